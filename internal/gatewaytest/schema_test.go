package gatewaytest

import (
	"fmt"
	"strings"
	"testing"
)

// The checker must accept what each provider documents and reject what
// its schema forbids, or a green end-to-end run proves nothing.
func TestSchemaChecks(t *testing.T) {
	tests := []struct {
		name   string
		api    API
		status int
		body   string
		bad    string // substring of the error; "" means valid
	}{
		{"openai ok", APIOpenAIChat, 200, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, ""},
		{"openai null fingerprint", APIOpenAIChat, 200, `{"id":"c","object":"chat.completion","created":1,"model":"m","system_fingerprint":null,"choices":[]}`, "system_fingerprint"},
		{"openai missing created", APIOpenAIChat, 200, `{"id":"c","object":"chat.completion","model":"m","choices":[]}`, "created"},
		{"openai error", APIOpenAIChat, 400, `{"error":{"message":"m","type":"invalid_request_error","param":null,"code":null}}`, ""},
		{"openai error code number", APIOpenAIChat, 400, `{"error":{"message":"m","type":"t","param":null,"code":502}}`, "code"},
		{"anthropic ok", APIAnthropicMessages, 200, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`, ""},
		{"anthropic string input", APIAnthropicMessages, 200, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":"{}"}],"usage":{"input_tokens":1,"output_tokens":1}}`, "input"},
		{"anthropic thinking without signature", APIAnthropicMessages, 200, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"x"}],"usage":{"input_tokens":1,"output_tokens":1}}`, "signature"},
		{"gemini ok", APIGeminiGenerate, 200, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi","thoughtSignature":"QUJD"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1},"modelVersion":"m","responseId":"r"}`, ""},
		{"gemini unknown field", APIGeminiGenerate, 200, `{"candidates":[],"created":0}`, "created"},
		{"gemini signature not base64", APIGeminiGenerate, 200, `{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"not base64!"}]}}]}`, "thoughtSignature"},
		{"gemini error", APIGeminiGenerate, 429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAnswer(tt.api, tt.status, []byte(tt.body))
			switch {
			case tt.bad == "" && err != nil:
				t.Errorf("valid body rejected: %v", err)
			case tt.bad != "" && err == nil:
				t.Errorf("invalid body accepted")
			case tt.bad != "" && !strings.Contains(err.Error(), tt.bad):
				t.Errorf("error does not name %q: %v", tt.bad, err)
			}
		})
	}
}

func TestSchemaCheckStreams(t *testing.T) {
	good := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	if err := CheckStream(APIAnthropicMessages, []byte(good)); err != nil {
		t.Errorf("valid Anthropic stream rejected: %v", err)
	}
	misnamed := "event: ping\ndata: {\"type\":\"message_stop\"}\n\n"
	if err := CheckStream(APIAnthropicMessages, []byte(misnamed)); err == nil {
		t.Error("event name that differs from the data type accepted")
	}
	chunk := `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`
	if err := CheckStream(APIOpenAIChat, []byte("data: "+chunk+"\n\ndata: [DONE]\n\n")); err != nil {
		t.Errorf("valid OpenAI stream rejected: %v", err)
	}
	if err := CheckStream(APIOpenAIChat, []byte("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[]}\n\n")); err == nil {
		t.Error("chunk without created accepted")
	}
	arr := `[{"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]},"index":0}]}` + "\r\n," + `{"error":{"code":502,"message":"m","status":"INTERNAL"}}]`
	if err := CheckStream(APIGeminiGenerate, []byte(arr)); err != nil {
		t.Errorf("valid Gemini JSON-array stream rejected: %v", err)
	}
	if err := CheckGatewayResponse("/v1beta/models/g:streamGenerateContent", 200, "text/event-stream", []byte("data: {\"bogus\":1}\n\n")); err == nil {
		t.Error("Gemini chunk with an unknown field accepted")
	}
}

func TestCheckResponsesStream(t *testing.T) {
	created := `{"type":"response.created","sequence_number":%d,"response":{"id":"r","object":"response","created_at":1,"status":"in_progress","model":"m","error":null,"incomplete_details":null,"instructions":null,"metadata":{},"output":[],"parallel_tool_calls":true,"temperature":1,"top_p":1,"tool_choice":"auto","tools":[]}}`
	ev := func(name string, seq int) string {
		return "event: " + name + "\ndata: " + fmt.Sprintf(created, seq) + "\n\n"
	}
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"valid", ev("response.created", 0) + ev("response.created", 1), true},
		{"event name differs from type", ev("response.completed", 0), false},
		{"sequence skips", ev("response.created", 0) + ev("response.created", 2), false},
		{"sequence starts late", ev("response.created", 1), false},
		{"[DONE] is not a Responses event", ev("response.created", 0) + "data: [DONE]\n\n", false},
	}
	for _, tc := range tests {
		err := CheckGatewayResponse("/v1/responses", 200, "text/event-stream", []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}
