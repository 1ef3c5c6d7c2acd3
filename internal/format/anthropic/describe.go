package anthropic

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/sse"
)

var _ endpoint.Describer = messagesSpec{}

// DescribeAnswer reads a message's id and stop reason.
func (messagesSpec) DescribeAnswer(body []byte) (string, []string) {
	r := gjson.GetManyBytes(body, "id", "stop_reason")
	if s := r[1].String(); s != "" {
		return r[0].String(), []string{s}
	}
	return r[0].String(), nil
}

// DescribeEvent reads the id of message_start and the stop reason of
// message_delta.
func (messagesSpec) DescribeEvent(ev sse.Event) (string, string) {
	r := gjson.GetManyBytes(ev.Data, "message.id", "delta.stop_reason")
	return r[0].String(), r[1].String()
}
