package gemini

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/sse"
)

var _ endpoint.Describer = generateSpec{}

// DescribeAnswer reads a response's responseId and its candidates'
// finish reasons.
func (generateSpec) DescribeAnswer(body []byte) (string, []string) {
	r := gjson.GetManyBytes(body, "responseId", "candidates.#.finishReason")
	var reasons []string
	for _, v := range r[1].Array() {
		if s := v.String(); s != "" {
			reasons = append(reasons, s)
		}
	}
	return r[0].String(), reasons
}

// DescribeEvent reads a stream chunk's responseId and its first
// candidate's finish reason.
func (generateSpec) DescribeEvent(ev sse.Event) (string, string) {
	r := gjson.GetManyBytes(ev.Data, "responseId", "candidates.0.finishReason")
	return r[0].String(), r[1].String()
}
