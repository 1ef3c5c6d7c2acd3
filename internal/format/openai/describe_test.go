package openai

import (
	"slices"
	"testing"

	"switchboard/internal/sse"
)

func TestDescribe(t *testing.T) {
	id, reasons := chatSpec{}.DescribeAnswer([]byte(`{"id":"c1","choices":[{"finish_reason":"stop"},{"finish_reason":"length"},{"finish_reason":null}]}`))
	if id != "c1" || !slices.Equal(reasons, []string{"stop", "length"}) {
		t.Errorf("answer: %q %q", id, reasons)
	}
	for _, tc := range []struct{ data, id, reason string }{
		{`{"id":"c1","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}`, "c1", ""},
		{`{"id":"c1","choices":[{"delta":{},"finish_reason":"tool_calls"}]}`, "c1", "tool_calls"},
		{`{"id":"c1","choices":[],"usage":{"prompt_tokens":1}}`, "c1", ""},
	} {
		id, reason := chatSpec{}.DescribeEvent(sse.Event{Data: []byte(tc.data)})
		if id != tc.id || reason != tc.reason {
			t.Errorf("%s: %q %q, want %q %q", tc.data, id, reason, tc.id, tc.reason)
		}
	}
}
