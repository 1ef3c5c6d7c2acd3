package simulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func do(t *testing.T, h *Handler, body string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Transport: &Transport{Handler: h}}
	resp, err := client.Post("simulator://local/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestChatIsDeterministic(t *testing.T) {
	h := NewHandler(Settings{})
	body := `{"model":"sim-1","messages":[{"role":"user","content":"Tell me about gateways"}]}`
	_, a := do(t, h, body)
	_, b := do(t, h, body)
	ca, cb := gjson.Get(a, "choices.0.message.content").String(), gjson.Get(b, "choices.0.message.content").String()
	if ca == "" || ca != cb {
		t.Fatalf("answers differ or empty: %q vs %q", ca, cb)
	}
	if !strings.Contains(ca, "Tell me about gateways") {
		t.Errorf("answer does not echo the prompt: %q", ca)
	}
	if gjson.Get(a, "usage.prompt_tokens").Int() == 0 || gjson.Get(a, "usage.completion_tokens").Int() == 0 {
		t.Errorf("usage missing: %s", a)
	}
}

func TestStreamUsageOnlyWhenAsked(t *testing.T) {
	h := NewHandler(Settings{})
	for _, ask := range []bool{false, true} {
		body := `{"model":"sim-1","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]`
		if ask {
			body += `,"stream_options":{"include_usage":true}`
		}
		resp, out := do(t, h, body+"}")
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		if !strings.HasSuffix(out, "data: [DONE]\n\n") {
			t.Fatalf("no [DONE]: %s", out)
		}
		if got := strings.Contains(out, `"choices":[],"usage"`); got != ask {
			t.Errorf("include_usage=%v but usage chunk present=%v", ask, got)
		}
		if !strings.Contains(out, `"finish_reason":"length"`) {
			t.Errorf("max_tokens below the answer length must finish with length: %s", out)
		}
	}
}

func TestToolChoiceCallsTheTool(t *testing.T) {
	h := NewHandler(Settings{})
	_, out := do(t, h, `{"model":"sim-1","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"tool_choice":"required"}`)
	if gjson.Get(out, "choices.0.message.tool_calls.0.function.name").String() != "get_weather" || gjson.Get(out, "choices.0.finish_reason").String() != "tool_calls" {
		t.Fatalf("no tool call: %s", out)
	}
}

func TestBadRequests(t *testing.T) {
	h := NewHandler(Settings{})
	for _, body := range []string{`{`, `{"messages":[{"role":"user","content":"x"}]}`, `{"model":"m","messages":[]}`} {
		resp, out := do(t, h, body)
		if resp.StatusCode != 400 || !gjson.Get(out, "error.message").Exists() {
			t.Errorf("%s: status %d body %s", body, resp.StatusCode, out)
		}
	}
}

func TestPacingAndCancel(t *testing.T) {
	h := NewHandler(Settings{TokensPerSecond: 20, Latency: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "simulator://local/v1/chat/completions", strings.NewReader(`{"model":"sim-1","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"x"}]}`))
	start := time.Now()
	resp, err := (&http.Client{Transport: &Transport{Handler: h}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_, _ = resp.Body.Read(buf) // role chunk
	_, _ = resp.Body.Read(buf) // first paced chunk
	if time.Since(start) < 40*time.Millisecond {
		t.Errorf("stream not paced: first chunk after %s", time.Since(start))
	}
	cancel()
	resp.Body.Close()
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancel did not stop the stream")
	}
}

func TestParseSettings(t *testing.T) {
	s, err := ParseSettings(map[string]string{"latency": "250ms", "tokens_per_second": "50"}, nil)
	if err != nil || s.Latency != 250*time.Millisecond || s.TokensPerSecond != 50 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []map[string]string{{"latency": "soon"}, {"tokens_per_second": "-1"}, {"tokens_per_second": "x"}} {
		if _, err := ParseSettings(bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestModels(t *testing.T) {
	h := NewHandler(Settings{Models: []string{"sim-1", "sim-1-mini"}})
	resp, err := (&http.Client{Transport: &Transport{Handler: h}}).Get("simulator://local/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if gjson.GetBytes(b, "data.#").Int() != 2 || gjson.GetBytes(b, "data.1.id").String() != "sim-1-mini" {
		t.Fatalf("models %s", b)
	}
}

// The simulator stops at max_tokens as a model does: the answer never has
// more tokens than the caller allowed (words are often several tokens).
func TestMaxTokensBoundsTheAnswer(t *testing.T) {
	h := NewHandler(Settings{})
	for _, tc := range []struct {
		field string
		limit int
	}{{"max_tokens", 256}, {"max_completion_tokens", 100}, {"max_tokens", 30}, {"max_tokens", 3}, {"max_tokens", 1}} {
		for _, stream := range []bool{false, true} {
			body := fmt.Sprintf(`{"model":"sim-1","stream":%v,"stream_options":{"include_usage":true},%q:%d,"messages":[{"role":"user","content":"Explain how a gateway meters every call"}]}`, stream, tc.field, tc.limit)
			_, out := do(t, h, body)
			var got int64
			if stream {
				for _, line := range strings.Split(out, "\n") {
					if u := gjson.Get(strings.TrimPrefix(line, "data: "), "usage.completion_tokens"); u.Exists() {
						got = u.Int()
					}
				}
			} else {
				got = gjson.Get(out, "usage.completion_tokens").Int()
			}
			if got <= 0 || got > int64(tc.limit) {
				t.Errorf("%s %d stream=%v: %d completion tokens", tc.field, tc.limit, stream, got)
			}
			if stream && !strings.Contains(out, `"finish_reason":"length"`) || !stream && gjson.Get(out, "choices.0.finish_reason").Str != "length" {
				t.Errorf("%s %d stream=%v: a cut answer must finish with length", tc.field, tc.limit, stream)
			}
		}
	}
}
