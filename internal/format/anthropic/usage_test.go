package anthropic

import (
	"testing"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// TestUsageCacheLifetimesAndServerTools: one-hour cache writes and web
// searches are billed apart, so the hub must carry them from both the
// non-stream body and the stream's cumulative message_delta.
func TestUsageCacheLifetimesAndServerTools(t *testing.T) {
	body := []byte(`{"type":"message","usage":{"input_tokens":10,"cache_creation_input_tokens":300,
		"cache_read_input_tokens":50,"output_tokens":7,
		"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},
		"server_tool_use":{"web_search_requests":3}}}`)
	want := llm.Usage{InputTokens: 360, CachedInputTokens: 50, CacheWriteTokens: 300, CacheWrite1hTokens: 200,
		OutputTokens: 7, WebSearchRequests: 3}
	if got, ok := ParseUsage(body); !ok || got != want {
		t.Fatalf("ParseUsage = %+v, %v; want %+v", got, ok, want)
	}
	// A 1h count above the total write count is clamped: it is a part.
	odd, _ := ParseUsage([]byte(`{"usage":{"cache_creation_input_tokens":5,"cache_creation":{"ephemeral_1h_input_tokens":9}}}`))
	if odd.CacheWrite1hTokens != 5 {
		t.Fatalf("1h writes above total = %d, want 5", odd.CacheWrite1hTokens)
	}

	d := NewStreamDecoder()
	events := []string{
		`{"type":"message_start","message":{"id":"m","model":"claude","usage":{"input_tokens":10,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_1h_input_tokens":200},"output_tokens":1}}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7,"server_tool_use":{"web_search_requests":2}}}`,
	}
	var last llm.Usage
	for _, e := range events {
		evs, err := d.Decode(sse.Event{Data: []byte(e)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == llm.EventUsage {
				last = *ev.Usage
			}
		}
	}
	if last.CacheWrite1hTokens != 200 || last.WebSearchRequests != 2 || last.OutputTokens != 7 {
		t.Fatalf("stream usage = %+v", last)
	}
}
