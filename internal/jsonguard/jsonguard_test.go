package jsonguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var routing = New(Options{RequireObject: true, UniqueFields: []string{
	"model", "stream", "messages",
	"generationConfig|generation_config.maxOutputTokens|max_output_tokens",
	"stream_options.include_usage",
}})

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestCheck(t *testing.T) {
	deep := func(n int) string { return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	cases := []struct {
		name string
		in   string
		want Kind
		msg  string
	}{
		{"plain", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`, 0, ""},
		{"whitespace", " \t\r\n{ \"model\" : \"m\" } \n", 0, ""},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, 0, ""},
		{"numbers", `{"a":[0,-0,1.5,-2e10,3E+2,4e-1,10]}`, 0, ""},
		{"literals", `{"a":[true,false,null]}`, 0, ""},
		{"depth at bound", deep(511), 0, ""},
		{"depth over bound", deep(512), TooDeep, "deeper than 512 levels"},
		{"eleven megabytes of arrays", deep(5_600_000), TooDeep, "deeper than 512"},
		{"objects too", `{"a":` + strings.Repeat(`{"b":`, 600) + `1` + strings.Repeat("}", 600) + `}`, TooDeep, ""},
		{"duplicate model", `{"model":"expensive","model":"allowed"}`, DuplicateKey, `"model" more than once`},
		{"duplicate by case", `{"model":"a","MODEL":"b"}`, DuplicateKey, `"model"`},
		{"duplicate by escape", `{"model":"a","mod\u0065l":"b"}`, DuplicateKey, `"model"`},
		{"duplicate by kelvin fold", `{"stream":true,"streamK":1,"ſtream":false}`, DuplicateKey, `"stream"`},
		{"duplicate alias", `{"generationConfig":{},"generation_config":{}}`, DuplicateKey, `"generationConfig"`},
		{"duplicate nested", `{"generationConfig":{"maxOutputTokens":1,"max_output_tokens":99999}}`, DuplicateKey, "maxOutputTokens"},
		{"duplicate nested in snake parent", `{"generation_config":{"max_output_tokens":1,"maxOutputTokens":2}}`, DuplicateKey, ""},
		{"nested elsewhere is free", `{"messages":[{"model":1,"model":2}],"other":{"maxOutputTokens":1,"maxOutputTokens":2}}`, 0, ""},
		{"unprotected duplicate", `{"temperature":1,"temperature":2}`, 0, ""},
		{"include_usage twice", `{"stream_options":{"include_usage":false,"include_usage":true}}`, DuplicateKey, ""},
		{"not object", `[1,2]`, NotObject, "must be a JSON object"},
		{"empty", ``, Syntax, "unexpected end"},
		{"truncated", `{"model":`, Syntax, "not valid JSON"},
		{"trailing", `{} {}`, Syntax, "after the top-level value"},
		{"trailing comma", `{"a":1,}`, Syntax, ""},
		{"leading zero", `{"a":01}`, Syntax, ""},
		{"bare dot", `{"a":1.}`, Syntax, ""},
		{"control char", "{\"a\":\"x\x01\"}", Syntax, "control character"},
		{"bad escape", `{"a":"\x"}`, Syntax, "invalid escape"},
		{"short unicode", `{"a":"\u12"}`, Syntax, ""},
		{"single quotes", `{'a':1}`, Syntax, ""},
		{"mismatched close", `{"a":[1}`, Syntax, ""},
		{"bad literal", `{"a":tru}`, Syntax, ""},
		{"unterminated", `{"a":"x`, Syntax, "unterminated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := routing.Check([]byte(tc.in))
			if got := kindOf(err); got != tc.want || (err != nil) != (tc.want != 0) {
				t.Fatalf("Check = %v (kind %d), want kind %d", err, got, tc.want)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q lacks %q", err.Error(), tc.msg)
			}
		})
	}
}

func TestMaxDepthConfigurable(t *testing.T) {
	g := New(Options{MaxDepth: 3})
	if err := g.Check([]byte(`[[[1]]]`)); err != nil {
		t.Fatal(err)
	}
	if err := g.Check([]byte(`[[[[1]]]]`)); kindOf(err) != TooDeep {
		t.Fatalf("depth 4 with bound 3: %v", err)
	}
	for _, bad := range []int{-1, MaxDepthLimit + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(MaxDepth %d) did not panic", bad)
				}
			}()
			New(Options{MaxDepth: bad})
		}()
	}
}

// The scan is linear and iterative: the body that killed the process is
// refused quickly and without growing the stack.
func TestDeepBodyIsCheap(t *testing.T) {
	body := []byte(`{"model":"m","messages":` + strings.Repeat("[", 5_600_000) + strings.Repeat("]", 5_600_000) + `}`)
	start := time.Now()
	if err := routing.Check(body); kindOf(err) != TooDeep {
		t.Fatalf("Check = %v", err)
	}
	// Worst case for the bound: valid and just under it, repeated.
	body = bytes.Repeat([]byte("[1],"), 3<<20)
	body = append(append([]byte(`{"a":[`), body[:len(body)-1]...), "]}"...)
	if err := routing.Check(body); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("two 10 MB checks took %s", d)
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	body := []byte(`{"model":"m","mod\u0065X":1,"messages":[{"role":"user","content":"h\u00e9llo"}],"generationConfig":{"maxOutputTokens":5},"stream":false}`)
	if n := testing.AllocsPerRun(100, func() {
		if err := routing.Check(body); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Check allocates %.0f times per call", n)
	}
}

// reference says what encoding/json makes of b: whether it is valid and
// whether a protected field appears twice (after unescaping, case-folded).
func reference(b []byte) (valid, dup bool) {
	if !json.Valid(b) {
		return false, false
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return true, false
	}
	counts := map[string]int{}
	nested := map[string]int{}
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		var raw json.RawMessage
		_ = dec.Decode(&raw)
		for _, f := range []string{"model", "stream", "messages"} {
			if strings.EqualFold(key, f) {
				counts[f]++
			}
		}
		if strings.EqualFold(key, "generationConfig") || strings.EqualFold(key, "generation_config") {
			counts["gc"]++
			inner := json.NewDecoder(bytes.NewReader(raw))
			if tok, err := inner.Token(); err == nil && tok == json.Delim('{') {
				for inner.More() {
					t, _ := inner.Token()
					k := t.(string)
					var skip json.RawMessage
					_ = inner.Decode(&skip)
					if strings.EqualFold(k, "maxOutputTokens") || strings.EqualFold(k, "max_output_tokens") {
						nested["mot"]++
					}
				}
			}
		}
	}
	_ = top
	for _, n := range counts {
		if n > 1 {
			return true, true
		}
	}
	return true, nested["mot"] > 1
}

var fuzzGuard = New(Options{MaxDepth: MaxDepthLimit, UniqueFields: []string{
	"model", "stream", "messages", "generationConfig|generation_config.maxOutputTokens|max_output_tokens",
}})

// FuzzCheck holds the guard to encoding/json's verdict: with encoding/json's
// own depth bound, a body is accepted exactly when json.Valid accepts it
// and decoding finds no protected field twice; a valid body is refused as a
// duplicate exactly when decoding finds one.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"model":"a","messages":[]}`, `{"model":"a","Model":"b"}`, `[1,"x",{"a":null}]`, `"\ud800"`,
		`{"generation_config":{"maxOutputTokens":1,"MAX_OUTPUT_TOKENS":2}}`, `-0.5e+3`, `{"a":01}`, "\"\xff\"",
		`{"mod\u0065l":1,"model":2}`, `{"ſtream":1,"stream":2}`, ` [ ] `, `{"a":"\u00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := fuzzGuard.Check(b)
		valid, dup := reference(b)
		k := kindOf(err)
		switch {
		case err != nil && k == 0:
			t.Fatalf("unexpected error %v", err)
		case !valid && err == nil:
			t.Fatalf("accepted %q, which encoding/json refuses", b)
		case !valid:
			// Refused: a duplicate seen before the syntax error is fine.
		case k == Syntax || k == TooDeep:
			t.Fatalf("refused %q (%v) but encoding/json accepts it", b, err)
		case dup != (k == DuplicateKey):
			t.Fatalf("%q: guard says %v; encoding/json finds a duplicate: %v", b, err, dup)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"model":"gpt-4o","stream":true,"messages":[` + strings.Repeat(`{"role":"user","content":"The quick brown fox jumps over the lazy dog, again and again."},`, 2000) + `{"role":"user","content":"end"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := routing.Check(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVisit(t *testing.T) {
	g := New(Options{})
	var got []string
	err := g.Visit([]byte(`{"a":"x","b":["y",{"c":"z\n"}],"d":1,"e\u0021":"w","f":{"g":"v"}}`), func(k, v String) {
		key, _ := AppendUnescaped(nil, k.Raw, -1)
		val, _ := AppendUnescaped(nil, v.Raw, -1)
		got = append(got, string(key)+"="+string(val))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a=x", "=y", "c=z\n", "e!=w", "g=v"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("visited %q, want %q", got, want)
	}
	if err := g.Visit([]byte(`"top"`), func(k, v String) {
		if k.Raw != nil || string(v.Raw) != "top" {
			t.Errorf("top-level string: key %q value %q", k.Raw, v.Raw)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAppendUnescaped(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`plain`, "plain"},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t"},
		{`\u00e9\ud83d\ude00`, "é😀"},
		{`\ud800x`, "\ufffdx"},
		{`\udc00\u0041`, "\ufffdA"},
	} {
		var want string
		if err := json.Unmarshal([]byte(`"`+tc.in+`"`), &want); err != nil || want != tc.want {
			t.Fatalf("test case %q disagrees with encoding/json (%q, %v)", tc.in, want, err)
		}
		if got, ok := AppendUnescaped(nil, []byte(tc.in), -1); !ok || string(got) != tc.want {
			t.Errorf("AppendUnescaped(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	var buf [8]byte
	if got, ok := AppendUnescaped(buf[:0], []byte(`abcdefghijkl`), len(buf)); ok || cap(got) != len(buf) {
		t.Fatalf("limit exceeded: %q %v (cap %d)", got, ok, cap(got))
	}
}

func TestWithinDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`[DONE]`, true},
		{`{"a":[[1]]}`, true},
		{`{"a":"[[[[[[[[["}`, true},
		{`{"a":"\"[[[[[["}`, true},
		{`[[[[`, false},
		{`]]]][[[`, true},
	} {
		if got := WithinDepth([]byte(tc.in), 3); got != tc.want {
			t.Errorf("WithinDepth(%q, 3) = %v", tc.in, got)
		}
	}
	if WithinDepth([]byte(strings.Repeat("[", 5_000_000)), MaxDepthLimit) {
		t.Fatal("5M levels within the limit")
	}
}

func TestFields(t *testing.T) {
	var got []string
	body := []byte(` { "model" : "m" , "messages":[{"a":{"b":1}}], "n":1.5,"o":{},"e":[],"t":true,"s":"x\"y" } `)
	if err := routing.Fields(body, func(k String, v []byte) {
		got = append(got, string(k.Raw)+"="+string(v))
	}); err != nil {
		t.Fatal(err)
	}
	want := `model="m"|messages=[{"a":{"b":1}}]|n=1.5|o={}|e=[]|t=true|s="x\"y"`
	if strings.Join(got, "|") != want {
		t.Fatalf("fields %q\nwant %q", strings.Join(got, "|"), want)
	}
	n := 0
	if err := routing.Fields([]byte(`{}`), func(String, []byte) { n++ }); err != nil || n != 0 {
		t.Fatalf("empty object: %d fields, %v", n, err)
	}
	g := New(Options{})
	if err := g.Fields([]byte(`[{"a":1},2]`), func(String, []byte) { n++ }); err != nil || n != 0 {
		t.Fatalf("array top level: %d fields, %v", n, err)
	}
	if err := routing.Fields([]byte(`{"model":"a","model":"b"}`), func(String, []byte) {}); kindOf(err) != DuplicateKey {
		t.Fatalf("duplicate: %v", err)
	}
	big := []byte(`{"model":"m","messages":[` + strings.Repeat(`"xxxxxxxx",`, 1000) + `"y"]}`)
	if n := testing.AllocsPerRun(20, func() { _ = routing.Fields(big, func(String, []byte) {}) }); n != 0 {
		t.Fatalf("Fields allocates %.0f times", n)
	}
}
