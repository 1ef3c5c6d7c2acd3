package tokencount

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func TestCount(t *testing.T) {
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 1},
		{"Hello, world!", 4},
		{"\x7f", 1}, // the codec alone counts DEL as nothing
	}
	for _, c := range cases {
		if got := Count(c.in); got != c.want {
			t.Errorf("Count(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestStreamMatchesWholeCount(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. 你好，世界！ ", 200)
	whole := Count(text)
	var s Stream
	// Feed in awkward 7-byte pieces, splitting runes and words.
	for i := 0; i < len(text); i += 7 {
		end := min(i+7, len(text))
		s.WriteString(text[i:end])
	}
	got := s.Total()
	diff := got - int64(whole)
	if diff < 0 {
		diff = -diff
	}
	// Within 2% of the whole-text count.
	if diff*50 > int64(whole) {
		t.Fatalf("stream count %d, whole count %d", got, whole)
	}
	if cap(s.carry) > 4*carryLimit {
		t.Fatalf("carry grew to %d bytes", cap(s.carry))
	}
}

func TestInvalidUTF8(t *testing.T) {
	if Count("\xff\xfe\xfd") == 0 {
		t.Fatal("invalid UTF-8 counted as zero")
	}
}

func FuzzStream(f *testing.F) {
	f.Add("hello world", 3)
	f.Add("\xff日本語", 1)
	f.Add("\x7f", 1)
	f.Fuzz(func(t *testing.T, s string, step int) {
		if step <= 0 || step > 64 {
			step = 5
		}
		var st Stream
		for i := 0; i < len(s); i += step {
			st.WriteString(s[i:min(i+step, len(s))])
		}
		if st.Total() < 0 || (len(s) > 0 && st.Total() == 0) {
			t.Fatalf("bad total %d for %q", st.Total(), s)
		}
	})
}

func BenchmarkStream(b *testing.B) {
	piece := []byte("Hello there, this is a delta ")
	b.ReportAllocs()
	var s Stream
	for b.Loop() {
		s.Write(piece)
	}
}

// walkText is the recursive walk RequestTokens replaced (re-parsing each
// level with gjson), kept as the reference of what is counted.
func walkText(v gjson.Result, key string, out *Stream) {
	switch {
	case v.IsObject() || v.IsArray():
		v.ForEach(func(k, child gjson.Result) bool {
			walkText(child, k.Str, out)
			return true
		})
	case v.Type == gjson.String:
		for _, id := range IdentifierKeys {
			if key == id {
				return
			}
		}
		out.WriteString(v.Str)
		out.Add(1)
	}
}

func reference(body []byte) int64 {
	var s Stream
	walkText(gjson.ParseBytes(body), "", &s)
	return s.Total()
}

func TestRequestTokens(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int64
	}{
		{`{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`, 2},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}},{"type":"text","text":"hello"}]}]}`, 2},
		{`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}},{"text":"hello"}]}]}`, 2},
		{`{"mod\u0065l":"x","a":"hello"}`, 2},
		{`["hello","hello"]`, 4},
		{`{"a":1,"b":true,"c":null}`, 0},
		{`not json`, 0},
	} {
		if got := RequestTokens([]byte(tc.body)); got != tc.want {
			t.Errorf("RequestTokens(%s) = %d, want %d", tc.body, got, tc.want)
		}
	}
}

// The recursive walk rescanned the input at every level: 500 levels around
// an 8 MB payload cost seconds; 100,000 levels of brackets, minutes. The
// single pass costs one scan.
func TestRequestTokensIsLinear(t *testing.T) {
	payload := `{"data":"` + strings.Repeat("A", 8<<20) + `"}`
	body := []byte(`{"model":"m","x":` + strings.Repeat("[", 500) + payload + strings.Repeat("]", 500) + `}`)
	start := time.Now()
	if got := RequestTokens(body); got != 0 {
		t.Fatalf("counted %d tokens of identifiers and payloads", got)
	}
	deep := []byte(strings.Repeat("[", 100_000) + `"x"` + strings.Repeat("]", 100_000))
	RequestTokens(deep)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two linear passes took %s", d)
	}
}

// FuzzRequestTokens holds the single pass to the recursive walk's count on
// the JSON documents both read the same way.
func FuzzRequestTokens(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi there"}]}`, `["a",{"type":"b","c":"d"}]`,
		`{"a":"\u00e9\n"}`, `"top"`, `{"data":"x","text":"y"}`, `{"k\u0065y":"v"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := RequestTokens(b)
		if got < 0 {
			t.Fatalf("negative count %d", got)
		}
		if !json.Valid(b) {
			return
		}
		// gjson's unescaping differs from encoding/json's on broken
		// surrogates; compare where the two decoders agree.
		var v any
		if json.Unmarshal(b, &v) != nil || strings.Contains(string(b), `\ud`) || strings.Contains(string(b), `\uD`) {
			return
		}
		if want := reference(b); got != want {
			t.Fatalf("RequestTokens = %d, recursive walk %d, for %q", got, want, b)
		}
	})
}

func BenchmarkRequestTokensDeep(b *testing.B) {
	body := []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)) // 200 KB of nesting
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		RequestTokens(body)
	}
}

func BenchmarkRequestTokensChat(b *testing.B) {
	body := []byte(`{"model":"gpt-4o","messages":[` + strings.Repeat(`{"role":"user","content":"The quick brown fox jumps over the lazy dog."},`, 200) + `{"role":"user","content":"end"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		RequestTokens(body)
	}
}
