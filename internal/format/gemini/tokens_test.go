package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
	"switchboard/internal/llm"
)

// gemini-cli sends the model's calls without ids and its responses with
// ids it minted; calls that carry ids may be answered under other ids.
// Every result must end up with its call's id, pairing by name and order
// when the ids say nothing.
func TestFunctionResponsePairing(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		calls, want string
	}{
		{"gemini-cli ids", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"read_file"}},{"functionCall":{"name":"ls"}}]},
		  {"role":"user","parts":[{"functionResponse":{"id":"ls-1761-aa","name":"ls","response":{}}},{"functionResponse":{"id":"read_file-1761-bb","name":"read_file","response":{}}}]}]}`,
			"call_read_file_0,call_ls_1", "call_ls_1,call_read_file_0"},
		{"exact ids first", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","id":"x1"}},{"functionCall":{"name":"f","id":"x2"}}]},
		  {"role":"user","parts":[{"functionResponse":{"id":"other","name":"f","response":{}}},{"functionResponse":{"id":"x1","name":"f","response":{}}}]}]}`,
			"x1,x2", "x2,x1"},
		{"later turns", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"id":"f-1","name":"f","response":{}}}]},
		  {"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"id":"f-2","name":"f","response":{}}}]}]}`,
			"call_f_0,call_f_1", "call_f_0,call_f_1"},
		{"answer before its call", `{"contents":[{"role":"user","parts":[{"functionResponse":{"id":"early","name":"f","response":{}}}]},{"role":"model","parts":[{"functionCall":{"name":"f"}}]}]}`,
			"call_f_0", "early"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, results := toolIDs(mustDecode(t, tt.body))
			if strings.Join(calls, ",") != tt.calls || strings.Join(results, ",") != tt.want {
				t.Errorf("calls %v results %v; want %s and %s", calls, results, tt.calls, tt.want)
			}
		})
	}
}

// toolIDs lists the ids of a request's tool calls and of its results.
func toolIDs(req *llm.Request) (calls, results []string) {
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartToolCall:
				calls = append(calls, p.ToolCallID)
			case llm.PartToolResult:
				results = append(results, p.ToolCallID)
			}
		}
	}
	return calls, results
}

// Tokens go only to the Gemini channel that issued them; another
// provider's, or another channel's, are dropped (the call then gets the
// validator-skip value).
func TestSignaturesStayWithTheirIssuer(t *testing.T) {
	call := func(iss llm.Issuer) *llm.Request {
		return &llm.Request{SourceFormat: "anthropic", Target: llm.Issuer{Provider: "gemini", Channel: 7}, Messages: []llm.Message{
			{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
			{Role: llm.RoleAssistant, Parts: []llm.Part{
				{Type: llm.PartReasoning, Text: "thought", Signature: "R2VtaW5pVGhvdWdodA==", Issuer: iss},
				{Type: llm.PartToolCall, ToolCallID: "t1", ToolName: "f", Arguments: json.RawMessage(`{}`), Signature: "R2VtaW5pQ2FsbA==", Issuer: iss},
			}},
			{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "t1", Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}}}},
		}}
	}
	for _, tc := range []struct {
		name string
		iss  llm.Issuer
		keep bool
	}{
		{"same channel", llm.Issuer{Provider: "gemini", Channel: 7}, true},
		{"other channel", llm.Issuer{Provider: "gemini", Channel: 8}, false},
		{"other provider", llm.Issuer{Provider: "anthropic", Channel: 7}, false},
		{"the client's own (Anthropic)", llm.Issuer{}, false},
	} {
		b, err := EncodeRequest(call(tc.iss))
		if err != nil {
			t.Fatal(err)
		}
		fc := gjson.GetBytes(b, "contents.1.parts.#(functionCall).thoughtSignature").Str
		thought := gjson.GetBytes(b, "contents.1.parts.#(thought==true)")
		if tc.keep && (fc != "R2VtaW5pQ2FsbA==" || thought.Get("thoughtSignature").Str != "R2VtaW5pVGhvdWdodA==") {
			t.Errorf("%s: signatures not kept: %s", tc.name, b)
		}
		if !tc.keep && (fc != skipSignature || thought.Exists() || strings.Contains(string(b), "R2VtaW5p")) {
			t.Errorf("%s: signatures sent to the wrong place: %s", tc.name, b)
		}
	}
}

// Anthropic's tokens reach a Gemini client inside envelopes (a signature
// on its thought part, a redacted blob as an empty thought part) that are
// valid thoughtSignatures, and decode back to Anthropic's tokens.
func TestForeignTokensShownAndRead(t *testing.T) {
	iss := llm.Issuer{Provider: "anthropic", Channel: 3}
	resp := &llm.Response{ID: "msg_1", Model: "claude", Issuer: iss, Choices: []llm.Choice{{StopReason: llm.StopToolUse, Parts: []llm.Part{
		{Type: llm.PartReasoning, Text: "Thinking.", Signature: "EqQBCgIYAhIMsig"},
		{Type: llm.PartRedactedReasoning, Data: "EmwKAhgBEgyBlob"},
		{Type: llm.PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: json.RawMessage(`{"a":1}`)},
	}}}}
	out, err := EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := gatewaytest.CheckAnswer(gatewaytest.APIGeminiGenerate, 200, out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "EqQBCgIYAhIMsig") || strings.Contains(string(out), "EmwKAhgBEgyBlob") {
		t.Fatalf("bare Anthropic tokens shown to a Gemini client: %s", out)
	}
	// The client sends the turn back.
	model := gjson.GetBytes(out, "candidates.0.content").Raw
	req := mustDecode(t, `{"contents":[{"role":"user","parts":[{"text":"hi"}]},`+model+`,{"role":"user","parts":[{"functionResponse":{"id":"toolu_1","name":"f","response":{"ok":true}}}]}]}`)
	parts := req.Messages[1].Parts
	if len(parts) != 3 || parts[0].Signature != "EqQBCgIYAhIMsig" || parts[0].Issuer != iss ||
		parts[1].Type != llm.PartRedactedReasoning || parts[1].Data != "EmwKAhgBEgyBlob" || parts[1].Issuer != iss {
		t.Fatalf("tokens not restored: %+v", parts)
	}
	// Encoded for a Gemini upstream, none of it goes out.
	req.Target = llm.Issuer{Provider: "gemini", Channel: 9}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), llm.WrappedTokenPrefix) || strings.Contains(string(b), "EqQB") {
		t.Errorf("another provider's token reached Gemini: %s", b)
	}

	// The same through the stream encoder.
	evs := []llm.Event{
		{Type: llm.EventStart, ID: "msg_1", Model: "claude", Issuer: iss},
		{Type: llm.EventReasoningDelta, Index: 0, Text: "Thinking."},
		{Type: llm.EventReasoningDelta, Index: 0, Signature: "EqQBCgIYAhIMsig"},
		{Type: llm.EventRedactedReasoning, Index: 1, Data: "EmwKAhgBEgyBlob"},
		{Type: llm.EventStop, StopReason: llm.StopEnd},
	}
	s := encodeStream(t, evs, StreamOptions{SSE: true})
	if err := gatewaytest.CheckStream(gatewaytest.APIGeminiGenerate, s); err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(s), `"thoughtSignature":"`+llm.WrappedTokenPrefix) != 2 || strings.Contains(string(s), "EqQB") {
		t.Errorf("stream tokens not in envelopes: %s", s)
	}
}
