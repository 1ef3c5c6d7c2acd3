package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

func TestCapOutput(t *testing.T) {
	openai := &gateway.Channel{Type: gateway.ChannelOpenAI}
	compat := &gateway.Channel{Type: gateway.ChannelOpenAICompatible}
	anthropic := &gateway.Channel{Type: gateway.ChannelAnthropic}
	gemini := &gateway.Channel{Type: gateway.ChannelGemini}
	cases := []struct {
		name string
		ch   *gateway.Channel
		in   string
		want map[string]int64 // path → value; 0 = absent
	}{
		{"openai unset", openai, `{"model":"m"}`, map[string]int64{"max_completion_tokens": 100, "max_tokens": 0}},
		{"compatible unset", compat, `{"model":"m"}`, map[string]int64{"max_tokens": 100, "max_completion_tokens": 0}},
		{"openai above", openai, `{"max_tokens":5000}`, map[string]int64{"max_tokens": 100, "max_completion_tokens": 0}},
		{"openai both", openai, `{"max_tokens":50,"max_completion_tokens":5000}`, map[string]int64{"max_tokens": 50, "max_completion_tokens": 100}},
		{"openai within", openai, `{"max_completion_tokens":20}`, map[string]int64{"max_completion_tokens": 20}},
		{"openai nonsense", openai, `{"max_tokens":"lots"}`, map[string]int64{"max_tokens": 100}},
		{"anthropic above", anthropic, `{"max_tokens":64000}`, map[string]int64{"max_tokens": 100}},
		{"anthropic thinking", anthropic, `{"max_tokens":64000,"thinking":{"type":"enabled","budget_tokens":32000}}`, map[string]int64{"max_tokens": 100, "thinking.budget_tokens": 32000}},
		{"gemini unset", gemini, `{"contents":[]}`, map[string]int64{"generationConfig.maxOutputTokens": 100}},
		{"gemini above", gemini, `{"generationConfig":{"maxOutputTokens":9000,"temperature":1}}`, map[string]int64{"generationConfig.maxOutputTokens": 100}},
		{"gemini snake", gemini, `{"generation_config":{"max_output_tokens":9000}}`, map[string]int64{"generation_config.max_output_tokens": 100, "generationConfig.maxOutputTokens": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := CapOutput(tc.ch, []byte(tc.in), 100)
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.want {
				v := gjson.GetBytes(out, path)
				if want == 0 && v.Exists() || want != 0 && v.Int() != want {
					t.Errorf("%s = %s in %s, want %d", path, v.Raw, out, want)
				}
			}
		})
	}
	// Anthropic thinking with room: the budget is lowered under the cap.
	out, _ := CapOutput(anthropic, []byte(`{"max_tokens":64000,"thinking":{"type":"enabled","budget_tokens":32000}}`), 8000)
	if gjson.GetBytes(out, "max_tokens").Int() != 8000 || gjson.GetBytes(out, "thinking.budget_tokens").Int() != 7999 {
		t.Errorf("thinking: %s", out)
	}
	in := []byte(`{"max_completion_tokens":20}`)
	if out, _ := CapOutput(openai, in, 100); &out[0] != &in[0] {
		t.Error("a body within the cap was copied")
	}
	if MaxOutputTokens(&gateway.Channel{Settings: map[string]string{"max_output_tokens": "4096"}}) != 4096 || MaxOutputTokens(openai) != 0 {
		t.Error("MaxOutputTokens")
	}
	if MaxStreamDuration(&gateway.Channel{Settings: map[string]string{"max_stream_duration": "10m0s"}}) != 10*time.Minute || MaxStreamDuration(openai) != 0 {
		t.Error("MaxStreamDuration")
	}
}

func TestLimitDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			_, _ = w.Write([]byte("data: x\n\n"))
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := LimitDuration(resp.Body, 150*time.Millisecond, cancel)
	defer body.Close()
	start := time.Now()
	_, err = io.Copy(io.Discard, body)
	if !errors.Is(err, ErrMaxStreamDuration) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
		t.Fatalf("cut after %s", d)
	}
}

func TestProbeKey(t *testing.T) {
	var gotPath, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotKey = r.URL.Path, r.Header.Get("X-Api-Key")
		switch gotKey {
		case "good":
			_, _ = io.WriteString(w, `{"data":[]}`)
		case "revoked":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ch := &gateway.Channel{Name: "a", Type: gateway.ChannelAnthropic, BaseURL: srv.URL}
	for key, want := range map[string]Verdict{"good": VerdictAccepted, "revoked": VerdictRejected, "flaky": VerdictUnknown} {
		if v, _ := ProbeKey(context.Background(), NewClient(http.DefaultTransport), ch, key); v != want {
			t.Errorf("key %s: verdict %d, want %d", key, v, want)
		}
		if gotPath != "/v1/models" || gotKey != key {
			t.Errorf("probe sent %s with key %q", gotPath, gotKey)
		}
	}
	srv.Close()
	if v, status := ProbeKey(context.Background(), NewClient(http.DefaultTransport), ch, "good"); v != VerdictUnknown || status != 0 {
		t.Errorf("unreachable upstream: %d %d", v, status)
	}
}
