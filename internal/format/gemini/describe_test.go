package gemini

import (
	"slices"
	"testing"

	"switchboard/internal/sse"
)

func TestDescribe(t *testing.T) {
	id, reasons := generateSpec{}.DescribeAnswer([]byte(`{"responseId":"r1","candidates":[{"finishReason":"STOP"},{"finishReason":"MAX_TOKENS"}]}`))
	if id != "r1" || !slices.Equal(reasons, []string{"STOP", "MAX_TOKENS"}) {
		t.Errorf("answer: %q %q", id, reasons)
	}
	for _, tc := range []struct{ data, id, reason string }{
		{`{"responseId":"r1","candidates":[{"content":{"parts":[{"text":"hi"}]}}]}`, "r1", ""},
		{`{"responseId":"r1","candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"STOP"}]}`, "r1", "STOP"},
	} {
		id, reason := generateSpec{}.DescribeEvent(sse.Event{Data: []byte(tc.data)})
		if id != tc.id || reason != tc.reason {
			t.Errorf("%s: %q %q, want %q %q", tc.data, id, reason, tc.id, tc.reason)
		}
	}
}
