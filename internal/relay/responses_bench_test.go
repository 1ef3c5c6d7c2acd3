package relay

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
)

// responsesStream is a Responses API upstream's 20-delta answer.
func responsesStream() []byte {
	var b strings.Builder
	seq := 0
	ev := func(typ, data string) {
		fmt.Fprintf(&b, "event: %s\ndata: {\"type\":%q,%s,\"sequence_number\":%d}\n\n", typ, typ, data, seq)
		seq++
	}
	resp := `{"id":"resp_1","object":"response","created_at":1,"status":"%s","model":"gpt-4o-mini","output":%s%s}`
	ev("response.created", `"response":`+fmt.Sprintf(resp, "in_progress", "[]", ""))
	ev("response.output_item.added", `"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}`)
	ev("response.content_part.added", `"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`)
	var text strings.Builder
	for i := range streamChunks {
		fmt.Fprintf(&text, "word%d ", i)
		ev("response.output_text.delta", fmt.Sprintf(`"item_id":"msg_1","output_index":0,"content_index":0,"delta":"word%d "`, i))
	}
	ev("response.output_text.done", `"item_id":"msg_1","output_index":0,"content_index":0,"text":"`+text.String()+`"`)
	item := `{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"` + text.String() + `","annotations":[]}]}`
	ev("response.output_item.done", `"output_index":0,"item":`+item)
	ev("response.completed", `"response":`+fmt.Sprintf(resp, "completed", "["+item+"]", `,"usage":{"input_tokens":12,"output_tokens":20,"total_tokens":32}`))
	return []byte(b.String())
}

// BenchmarkResponsesRelay: a Responses API client's 20-delta stream passed
// through to an OpenAI channel and translated to an OpenAI-compatible chat
// channel and to Anthropic, next to the chat client's same calls, in one
// run (docs/performance.md).
func BenchmarkResponsesRelay(b *testing.B) {
	r, _ := newBenchRelay(b, false)
	r.Router.SetChannels([]gateway.Channel{
		{ID: 1, Name: "oa", Type: gateway.ChannelOpenAI, BaseURL: "http://oa.invalid", APIKeys: []string{"k"}, Models: []string{"gpt-4o-mini"}, Enabled: true, Weight: 1},
		{ID: 2, Name: "an", Type: gateway.ChannelAnthropic, BaseURL: "http://an.invalid", APIKeys: []string{"k"}, Models: []string{"claude-sonnet-4-20250514"}, Enabled: true, Weight: 1},
		{ID: 5, Name: "compat", Type: gateway.ChannelOpenAICompatible, BaseURL: "http://oc.invalid", APIKeys: []string{"k"}, Models: []string{"llama-bench"}, Enabled: true, Weight: 1},
	})
	r.Client.Transport.(*cannedTransport).bodies["/v1/responses|stream"] = responsesStream()
	const chatBody = `{"model":"%s","stream":true,"max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Hello!"}]}`
	const respBody = `{"model":"%s","stream":true,"max_output_tokens":64,"instructions":"be brief","input":"Hello!"}`
	for _, tc := range []struct {
		name, model string
		responses   bool
	}{
		{"chat-passthrough/stream20", "gpt-4o-mini", false},
		{"chat-to-compat-chat/stream20", "llama-bench", false},
		{"chat-to-anthropic/stream20", "claude-sonnet-4-20250514", false},
		{"responses-passthrough/stream20", "gpt-4o-mini", true},
		{"responses-to-chat/stream20", "llama-bench", true},
		{"responses-to-anthropic/stream20", "claude-sonnet-4-20250514", true},
	} {
		spec, path, body := openai.Chat, "/v1/chat/completions", fmt.Sprintf(chatBody, tc.model)
		if tc.responses {
			spec, path, body = openai.Responses, "/v1/responses", fmt.Sprintf(respBody, tc.model)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := serveSpec(r, httptest.NewRecorder(), spec, path, body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(streamChunks+4), "ns/event")
		})
	}
}

// The benchmark's calls answer what they should: the same text whichever
// path, in the Responses grammar for the Responses client.
func TestResponsesBenchCalls(t *testing.T) {
	r, _ := newBenchRelay(t, false)
	r.Router.SetChannels([]gateway.Channel{
		{ID: 1, Name: "oa", Type: gateway.ChannelOpenAI, BaseURL: "http://oa.invalid", APIKeys: []string{"k"}, Models: []string{"gpt-4o-mini"}, Enabled: true, Weight: 1},
		{ID: 5, Name: "compat", Type: gateway.ChannelOpenAICompatible, BaseURL: "http://oc.invalid", APIKeys: []string{"k"}, Models: []string{"llama-bench"}, Enabled: true, Weight: 1},
	})
	r.Client.Transport.(*cannedTransport).bodies["/v1/responses|stream"] = responsesStream()
	for _, model := range []string{"gpt-4o-mini", "llama-bench"} {
		w := httptest.NewRecorder()
		if err := serveSpec(r, w, openai.Responses, "/v1/responses", `{"model":"`+model+`","stream":true,"input":"Hello!"}`); err != nil {
			t.Fatal(err)
		}
		out := w.Body.String()
		if !strings.Contains(out, "event: response.completed") || !strings.Contains(out, `word19 `) || strings.Contains(out, "[DONE]") {
			t.Errorf("%s: %s", model, out)
		}
	}
}
