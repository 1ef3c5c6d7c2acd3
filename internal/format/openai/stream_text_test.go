package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
)

// collect is a TextCounter that keeps the text.
type collect struct{ b strings.Builder }

func (c *collect) WriteString(s string) { c.b.WriteString(s) }

// slowText is EventText without the fast path.
func slowText(data []byte) (string, bool) {
	var c collect
	ok := eventTextWalk(data, &c)
	return c.b.String(), ok
}

func TestContentOnlyText(t *testing.T) {
	for _, c := range []struct {
		data string
		text string
		ok   bool
	}{
		{`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tok3 "},"finish_reason":null}]}`, "tok3 ", true},
		{`{"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}`, "", true},
		// Not the common shape: the walk decides.
		{`{"choices":[{"index":0,"delta":{"role":"assistant","content":"hi"}}]}`, "", false},
		{`{"choices":[{"index":0,"delta":{"content":"hi","reasoning_content":"r"}}]}`, "", false},
		{`{"choices":[{"index":0,"delta":{"content":"a \"quoted\" word"}}]}`, "", false},
		{`{"choices":[{"index":0,"logprobs":{"content":[]},"delta":{"content":"x"}}]}`, "", false},
		{`{"x":{"choices":[{"delta":{"content":"inner"}}]},"choices":[{"delta":{"content":"outer"}}]}`, "", false},
		{`{"choices":null,"choices":[{"delta":{"content":"dup"}}]}`, "", false},
		{`{"choices":[{"delta":null,"delta":{"content":"dup"}}]}`, "", false},
		{`{"choices":[],"usage":{"prompt_tokens":1}}`, "", false},
		{`[DONE]`, "", false},
	} {
		got, ok := contentOnlyText([]byte(c.data))
		if ok != c.ok || string(got) != c.text {
			t.Errorf("contentOnlyText(%s) = %q, %v; want %q, %v", c.data, got, ok, c.text, c.ok)
		}
		// Whatever the path, EventText says what the walk says.
		var fast collect
		gotOK := Chat.(chatSpec).EventText(sse.Event{Data: []byte(c.data)}, &fast)
		want, wantOK := slowText([]byte(c.data))
		if fast.b.String() != want || gotOK != wantOK {
			t.Errorf("EventText(%s) = %q, %v; the walk says %q, %v", c.data, fast.b.String(), gotOK, want, wantOK)
		}
	}
}

// For any valid JSON the fast path takes, it finds what the walk finds.
func FuzzContentOnlyText(f *testing.F) {
	for _, s := range []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tok3 "},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"hi","refusal":"no"}}]}`,
		`{"choices":[{"delta":{"content":"x"}},{"delta":{"content":"y"}}]}`,
		`{"a":"{","choices":[{"delta":{"content":"x"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"\u00e9"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"a"} }]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		got, ok := contentOnlyText(data)
		if !ok {
			return
		}
		want, wantOK := slowText(data)
		if string(got) != want || (len(got) > 0) != wantOK {
			t.Fatalf("contentOnlyText(%s) = %q; the walk says %q, %v", data, got, want, wantOK)
		}
	})
}

// BenchmarkEventText compares the fast path with the walk on the common
// chunk, counting into the token counter as the relay does.
func BenchmarkEventText(b *testing.B) {
	ev := sse.Event{Data: []byte(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"content":"tok7 "},"finish_reason":null}]}`)}
	b.Run("fast", func(b *testing.B) {
		var c tokencount.Stream
		b.ReportAllocs()
		for b.Loop() {
			Chat.(chatSpec).EventText(ev, &c)
			c.Reset()
		}
	})
	b.Run("walk", func(b *testing.B) {
		var c tokencount.Stream
		b.ReportAllocs()
		for b.Loop() {
			eventTextWalk(ev.Data, &c)
			c.Reset()
		}
	})
}
