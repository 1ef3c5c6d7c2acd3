package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parseDir parses the non-test Go files of a package directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// The engine knows no wire format by name: no format package, no
// upstream.Format* constant, no format name as a string.
func TestRelayHasNoFormatNames(t *testing.T) {
	names := map[string]bool{"openai": true, "anthropic": true, "gemini": true, "midjourney": true, "azure": true}
	for _, f := range parseDir(t, "../relay") {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BasicLit:
				if x.Kind == token.STRING {
					if s, err := strconv.Unquote(x.Value); err == nil && names[strings.ToLower(s)] {
						t.Errorf("relay names the format %q", s)
					}
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "upstream" && strings.HasPrefix(x.Sel.Name, "Format") && x.Sel.Name != "FormatOf" {
					t.Errorf("relay uses upstream.%s", x.Sel.Name)
				}
			}
			return true
		})
	}
}

// Format packages use net/http's types to read a client's request and to
// write an error answer, and nothing else of it: no clients, servers,
// muxes or handlers. Calling upstreams is the engine's job, serving is
// httpapi's.
func TestFormatsUseNetHTTPOnlyForRequestsAndErrors(t *testing.T) {
	allowed := map[string]bool{
		"Header": true, "Request": true, "ResponseWriter": true, "StatusText": true,
		"CanonicalHeaderKey": true, "ParseTime": true, "TimeFormat": true, "DetectContentType": true,
	}
	for _, dir := range []string{"../format/openai", "../format/anthropic", "../format/gemini"} {
		for _, f := range parseDir(t, dir) {
			local := ""
			for _, imp := range f.Imports {
				if imp.Path.Value == `"net/http"` {
					local = "http"
					if imp.Name != nil {
						local = imp.Name.Name
					}
				}
			}
			if local == "" {
				continue
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
					name := sel.Sel.Name
					if !allowed[name] && !strings.HasPrefix(name, "Status") && !strings.HasPrefix(name, "Method") {
						t.Errorf("%s uses net/http.%s", dir, name)
					}
				}
				return true
			})
		}
	}
}
