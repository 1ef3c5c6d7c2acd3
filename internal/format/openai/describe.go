package openai

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/sse"
)

var _ endpoint.Describer = chatSpec{}

// DescribeAnswer reads a chat completion's id and finish reasons.
func (chatSpec) DescribeAnswer(body []byte) (string, []string) {
	r := gjson.GetManyBytes(body, "id", "choices.#.finish_reason")
	var reasons []string
	for _, v := range r[1].Array() {
		if s := v.String(); s != "" {
			reasons = append(reasons, s)
		}
	}
	return r[0].String(), reasons
}

// DescribeEvent reads a chunk's id and its first choice's finish reason.
func (chatSpec) DescribeEvent(ev sse.Event) (string, string) {
	r := gjson.GetManyBytes(ev.Data, "id", "choices.0.finish_reason")
	return r[0].String(), r[1].String()
}
