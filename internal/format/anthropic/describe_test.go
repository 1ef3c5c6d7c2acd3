package anthropic

import (
	"slices"
	"testing"

	"switchboard/internal/sse"
)

func TestDescribe(t *testing.T) {
	id, reasons := messagesSpec{}.DescribeAnswer([]byte(`{"id":"msg_1","type":"message","stop_reason":"max_tokens"}`))
	if id != "msg_1" || !slices.Equal(reasons, []string{"max_tokens"}) {
		t.Errorf("answer: %q %q", id, reasons)
	}
	for _, tc := range []struct{ data, id, reason string }{
		{`{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3}}}`, "msg_1", ""},
		{`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`, "", ""},
		{`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`, "", "end_turn"},
	} {
		id, reason := messagesSpec{}.DescribeEvent(sse.Event{Data: []byte(tc.data)})
		if id != tc.id || reason != tc.reason {
			t.Errorf("%s: %q %q, want %q %q", tc.data, id, reason, tc.id, tc.reason)
		}
	}
}
