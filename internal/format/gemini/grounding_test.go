package gemini

import (
	"testing"

	"switchboard/internal/sse"
)

// TestGroundingUsage: Google Search grounding is billed per grounded
// prompt (Gemini 2.x) or per search query (Gemini 3); both counts come
// from the candidates' groundingMetadata, in every decoding path.
func TestGroundingUsage(t *testing.T) {
	body := []byte(`{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP",
		"groundingMetadata":{"webSearchQueries":["a","b"],"groundingChunks":[]}},
		{"index":1,"content":{"parts":[{"text":"y"}]},"groundingMetadata":{"webSearchQueries":["c"]}}],
		"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}`)
	u, ok := ParseUsage(body)
	if !ok || u.WebSearchRequests != 3 || u.GroundedPrompts != 1 || u.InputTokens != 5 {
		t.Fatalf("ParseUsage = %+v, %v", u, ok)
	}
	arr, ok := ParseUsage([]byte(`[{"usageMetadata":{"promptTokenCount":5}},{"candidates":[{"groundingMetadata":{"webSearchQueries":["q"]}}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9}}]`))
	if !ok || arr.WebSearchRequests != 1 || arr.GroundedPrompts != 1 || arr.OutputTokens != 9 {
		t.Fatalf("array ParseUsage = %+v, %v", arr, ok)
	}
	if plain, _ := ParseUsage([]byte(`{"usageMetadata":{"promptTokenCount":5}}`)); plain.GroundedPrompts != 0 {
		t.Fatalf("ungrounded answer counted as grounded: %+v", plain)
	}
	resp, err := DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.WebSearchRequests != 3 || resp.Usage.GroundedPrompts != 1 {
		t.Fatalf("DecodeResponse usage = %+v", resp.Usage)
	}
	d := NewStreamDecoder()
	var got int64
	for _, chunk := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"x"}]},"groundingMetadata":{"webSearchQueries":["a","b"]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"y"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}`,
	} {
		evs, err := d.Decode(sse.Event{Data: []byte(chunk)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Usage != nil {
				got = ev.Usage.WebSearchRequests
			}
		}
	}
	if got != 2 {
		t.Fatalf("stream grounding queries = %d, want 2", got)
	}
}
