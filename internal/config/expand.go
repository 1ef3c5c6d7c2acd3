package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Getenv looks an environment variable up; os.LookupEnv fits.
type Getenv func(name string) (string, bool)

// envRef is one ${...} reference (or a $$ escape) found in the raw text.
type envRef struct {
	expr    string // what was between the braces; "" with literal for $$
	literal bool   // $$: stands for a single "$"
}

// placeholders swaps every ${...} reference and $$ escape in src for a
// marker that is a valid plain YAML scalar and contains no newline, so the
// document parses whatever the variables hold and keeps its line numbers.
// Unterminated references are left alone; scalars that still contain "${"
// after substitution are reported then, which keeps comments out of it.
func placeholders(src []byte) (out []byte, marker string, refs []envRef) {
	if !strings.Contains(string(src), "$") {
		return src, "", nil
	}
	marker = "__SBENV"
	for strings.Contains(string(src), marker) {
		marker += "X"
	}
	var b strings.Builder
	b.Grow(len(src) + 32)
	s := string(src)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			refs = append(refs, envRef{literal: true})
			fmt.Fprintf(&b, "%s%d__", marker, len(refs)-1)
			i += 2
		case '{':
			end := matchBrace(s, i+2)
			if end < 0 {
				b.WriteByte(c)
				i++
				continue
			}
			refs = append(refs, envRef{expr: s[i+2 : end]})
			fmt.Fprintf(&b, "%s%d__", marker, len(refs)-1)
			i = end + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return []byte(b.String()), marker, refs
}

// matchBrace returns the index of the '}' closing a "${" whose body starts
// at from, honouring nested ${...} in defaults; -1 when there is none on the
// same line.
func matchBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch s[j] {
		case '\n':
			return -1
		case '{':
			if j > 0 && s[j-1] == '$' {
				depth++
			}
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// expander substitutes placeholders in the AST's scalars.
type expander struct {
	marker string
	refs   []envRef
	getenv Getenv
	errs   []lineError
	// unset records, per line, the variables referenced there that were
	// not set, so a later "api_keys[0]: empty" can say why.
	unset map[int][]string
}

type lineError struct {
	line int
	msg  string
}

func (x *expander) walk(n ast.Node) {
	switch n := n.(type) {
	case *ast.DocumentNode:
		x.walk(n.Body)
	case *ast.MappingNode:
		for _, v := range n.Values {
			x.walk(v)
		}
	case *ast.MappingValueNode:
		x.walk(n.Key)
		x.walk(n.Value)
	case *ast.MappingKeyNode:
		x.walk(n.Value)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			x.walk(v)
		}
	case *ast.AnchorNode:
		x.walk(n.Value)
	case *ast.TagNode:
		x.walk(n.Value)
	case *ast.LiteralNode:
		x.walk(n.Value)
	case *ast.StringNode:
		x.scalar(n)
	}
}

func (x *expander) scalar(n *ast.StringNode) {
	line := 0
	if n.Token != nil {
		line = n.Token.Position.Line
	}
	if x.marker == "" || !strings.Contains(n.Value, x.marker) {
		if strings.Contains(n.Value, "${") {
			x.errs = append(x.errs, lineError{line, fmt.Sprintf("unterminated or malformed ${ in %q", n.Value)})
		}
		return
	}
	v := x.replace(n.Value, line)
	n.Value = v
	if n.Token != nil {
		n.Token.Value = v
	}
}

// replace substitutes every placeholder in s.
func (x *expander) replace(s string, line int) string {
	var b strings.Builder
	for {
		i := strings.Index(s, x.marker)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+len(x.marker):]
		j := strings.Index(rest, "__")
		idx, err := strconv.Atoi(rest[:max(j, 0)])
		if j < 0 || err != nil || idx < 0 || idx >= len(x.refs) {
			// Not one of ours (the marker was chosen absent from the file,
			// so this cannot happen); keep the text as it is.
			b.WriteString(x.marker)
			s = rest
			continue
		}
		ref := x.refs[idx]
		if ref.literal {
			b.WriteByte('$')
		} else {
			b.WriteString(x.eval(ref.expr, line, 0))
		}
		s = rest[j+2:]
	}
}

// eval evaluates the body of one ${...}: NAME, NAME:-default, NAME-default,
// NAME:?message or NAME?message. Defaults may contain references themselves.
func (x *expander) eval(expr string, line, depth int) string {
	if depth > 8 {
		x.errs = append(x.errs, lineError{line, "${...} defaults nested too deeply"})
		return ""
	}
	name := expr
	op, arg := "", ""
	if k := strings.IndexAny(expr, ":-?"); k >= 0 {
		name = expr[:k]
		rest := expr[k:]
		switch {
		case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":?"):
			op, arg = rest[:2], rest[2:]
		case strings.HasPrefix(rest, "-"), strings.HasPrefix(rest, "?"):
			op, arg = rest[:1], rest[1:]
		default:
			x.errs = append(x.errs, lineError{line, fmt.Sprintf("malformed reference ${%s} (want ${NAME}, ${NAME:-default} or ${NAME:?message})", expr)})
			return ""
		}
	}
	if !validEnvName(name) {
		x.errs = append(x.errs, lineError{line, fmt.Sprintf("malformed reference ${%s}: %q is not a variable name", expr, name)})
		return ""
	}
	val, set := x.getenv(name)
	switch op {
	case "":
		if !set {
			x.unset[line] = append(x.unset[line], name)
		}
		return val
	case ":-":
		if !set || val == "" {
			return x.evalDefault(arg, line, depth)
		}
	case "-":
		if !set {
			return x.evalDefault(arg, line, depth)
		}
	case ":?", "?":
		if !set || (op == ":?" && val == "") {
			msg := arg
			if msg == "" {
				msg = "required but not set"
			}
			x.errs = append(x.errs, lineError{line, fmt.Sprintf("environment variable %s: %s", name, msg)})
			return ""
		}
	}
	return val
}

// evalDefault expands references inside a default value.
func (x *expander) evalDefault(s string, line, depth int) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '{' {
			if end := matchBrace(s, i+2); end >= 0 {
				b.WriteString(x.eval(s[i+2:end], line, depth+1))
				i = end + 1
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// isPlain reports whether a scalar was written without quotes, where an
// empty value (an unset ${VAR}) means "not set" rather than "".
func isPlain(tk *token.Token) bool {
	return tk == nil || (tk.Type != token.DoubleQuoteType && tk.Type != token.SingleQuoteType)
}
