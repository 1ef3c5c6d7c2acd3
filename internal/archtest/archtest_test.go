package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "switchboard/...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func ours(imports []string) []string {
	var out []string
	for _, i := range imports {
		if strings.HasPrefix(i, "switchboard/") {
			out = append(out, i)
		}
	}
	return out
}

func TestImportRules(t *testing.T) {
	concrete := map[string]bool{
		"switchboard/internal/sqlstore":   true,
		"switchboard/internal/redisstore": true,
		"switchboard/internal/inmem":      true,
	}
	for _, p := range listPackages(t) {
		imp := ours(p.Imports)
		switch {
		case p.ImportPath == "switchboard/internal/llm" || p.ImportPath == "switchboard/internal/sse" || p.ImportPath == "switchboard/internal/payload":
			if len(imp) > 0 {
				t.Errorf("%s must import nothing of ours, imports %v", p.ImportPath, imp)
			}
		case p.ImportPath == "switchboard/internal/gateway":
			for _, i := range imp {
				if i != "switchboard/internal/llm" {
					t.Errorf("gateway may import only llm, imports %s", i)
				}
			}
		case strings.HasPrefix(p.ImportPath, "switchboard/internal/format/"):
			for _, i := range imp {
				if strings.HasPrefix(i, "switchboard/internal/format/") {
					t.Errorf("%s imports another format package %s", p.ImportPath, i)
				}
				if i == "switchboard/internal/relay" || i == "switchboard/internal/httpapi" {
					t.Errorf("%s imports %s: formats publish specs, the engine consumes them", p.ImportPath, i)
				}
			}
		case p.ImportPath == "switchboard/internal/endpoint":
			allowed := map[string]bool{"switchboard/internal/gateway": true, "switchboard/internal/llm": true,
				"switchboard/internal/payload": true, "switchboard/internal/sse": true, "switchboard/internal/upstream": true}
			for _, i := range imp {
				if !allowed[i] {
					t.Errorf("endpoint is the contract between relay and the formats; it may not import %s", i)
				}
			}
		case p.ImportPath == "switchboard/internal/rules":
			// The rules config, admin and the CLI share sit below all three.
			for _, i := range imp {
				if i != "switchboard/internal/gateway" && i != "switchboard/internal/pricing" && i != "switchboard/internal/upstream" {
					t.Errorf("rules may import only gateway, pricing and upstream (whose settings it checks), imports %s", i)
				}
			}
		case p.ImportPath == "switchboard/internal/relay":
			for _, i := range imp {
				if strings.HasPrefix(i, "switchboard/internal/format/") || i == "switchboard/internal/httpapi" {
					t.Errorf("relay is format-agnostic; it may not import %s", i)
				}
			}
		}
		if !strings.HasPrefix(p.ImportPath, "switchboard/cmd/") && !strings.HasPrefix(p.ImportPath, "switchboard/bench/") {
			for _, i := range imp {
				if concrete[i] {
					t.Errorf("%s imports the concrete store %s: only cmd/switchboard picks stores", p.ImportPath, i)
				}
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
