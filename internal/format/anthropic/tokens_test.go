package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
	"switchboard/internal/llm"
)

var geminiCh = llm.Issuer{Provider: "gemini", Channel: 5}

// A Gemini answer shown to an Anthropic client: the functionCall's
// signature rides in the thinking block before the tool_use, a text
// part's in a thinking block after the text, both in envelopes; the ids
// get Anthropic's prefixes. Sent back, the decoder puts each signature
// where Gemini had it.
func TestGeminiSignaturesThroughAnAnthropicClient(t *testing.T) {
	resp := &llm.Response{ID: "resp-1", Model: "gemini-2.5-flash", Issuer: geminiCh, Choices: []llm.Choice{{StopReason: llm.StopToolUse, Parts: []llm.Part{
		{Type: llm.PartReasoning, Text: "Plan."},
		{Type: llm.PartToolCall, ToolCallID: "call_f_0", ToolName: "f", Arguments: json.RawMessage(`{"x":1}`), Signature: "Q2FsbFNpZw=="},
		{Type: llm.PartText, Text: "Done.", Signature: "VGV4dFNpZw=="},
	}}}}
	out, err := EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := gatewaytest.CheckAnswer(gatewaytest.APIAnthropicMessages, 200, out); err != nil {
		t.Fatal(err)
	}
	m := gjson.ParseBytes(out)
	if m.Get("id").Str != "msg_resp-1" || m.Get("content.1.id").Str != "toolu_call_f_0" {
		t.Errorf("ids not prefixed: %s", out)
	}
	types := []string{}
	m.Get("content").ForEach(func(_, b gjson.Result) bool { types = append(types, b.Get("type").Str); return true })
	if strings.Join(types, ",") != "thinking,tool_use,text,thinking" || !strings.HasPrefix(m.Get("content.0.signature").Str, llm.WrappedTokenPrefix) || m.Get("content.0.thinking").Str != "Plan." {
		t.Fatalf("blocks %v: %s", types, out)
	}
	if strings.Contains(string(out), "Q2FsbFNpZw==") {
		t.Errorf("a bare Gemini token shown to an Anthropic client: %s", out)
	}

	// The client's next turn.
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":` + m.Get("content").Raw +
		`},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_call_f_0","content":"ok"}]}]}`
	req, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	parts := req.Messages[1].Parts
	if len(parts) != 3 || parts[0].Type != llm.PartReasoning || parts[0].Signature != "" || parts[0].Text != "Plan." ||
		parts[1].Signature != "Q2FsbFNpZw==" || parts[1].Issuer != geminiCh ||
		parts[2].Type != llm.PartText || parts[2].Signature != "VGV4dFNpZw==" || parts[2].Issuer != geminiCh {
		t.Fatalf("signatures not put back: %+v", parts)
	}

	// The stream encoder does the same.
	evs := []llm.Event{
		{Type: llm.EventStart, ID: "resp-1", Model: "gemini-2.5-flash", Issuer: geminiCh},
		{Type: llm.EventReasoningDelta, Index: 0, Text: "Plan."},
		{Type: llm.EventToolCallStart, Index: 1, ToolCallID: "call_f_0", ToolName: "f", Signature: "Q2FsbFNpZw=="},
		{Type: llm.EventToolCallDelta, Index: 1, Text: `{"x":1}`},
		{Type: llm.EventTextDelta, Index: 2, Text: "Done."},
		{Type: llm.EventTextDelta, Index: 2, Signature: "VGV4dFNpZw=="},
		{Type: llm.EventStop, StopReason: llm.StopToolUse},
	}
	s := encodeStream(t, StreamOptions{}, evs)
	if err := checkStream(s); err != nil {
		t.Fatal(err)
	}
	if err := gatewaytest.CheckStream(gatewaytest.APIAnthropicMessages, s); err != nil {
		t.Fatal(err)
	}
	back, err := decodeStream(t, NewStreamDecoder(), s)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []string
	for _, ev := range back {
		if ev.Signature != "" {
			iss, kind, tok, ok := llm.UnwrapToken(ev.Signature)
			if !ok || iss != geminiCh {
				t.Errorf("stream signature %q not an envelope of the Gemini channel", ev.Signature)
			}
			sigs = append(sigs, string(kind)+":"+tok)
		}
	}
	if strings.Join(sigs, ",") != "c:Q2FsbFNpZw==,x:VGV4dFNpZw==" {
		t.Errorf("stream signatures %v", sigs)
	}
}

// Towards Anthropic a token goes only to the channel that issued it;
// without one valid signature the last tool turn cannot keep thinking on.
func TestAnthropicSignaturesStayWithTheirIssuer(t *testing.T) {
	req := func(source string, iss llm.Issuer) *llm.Request {
		return &llm.Request{SourceFormat: source, Target: llm.Issuer{Provider: "anthropic", Channel: 2}, Reasoning: &llm.Reasoning{Enabled: true, BudgetTokens: 2048},
			Messages: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartReasoning, Text: "Plan.", Signature: "QW50aHJvcGljU2ln", Issuer: iss},
					{Type: llm.PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: json.RawMessage(`{}`)},
				}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "toolu_1", Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}}}},
			}}
	}
	for _, tc := range []struct {
		name   string
		source string
		iss    llm.Issuer
		keep   bool
	}{
		{"same channel", "gemini", llm.Issuer{Provider: "anthropic", Channel: 2}, true},
		{"an Anthropic client's own", "anthropic", llm.Issuer{}, true},
		{"other channel", "gemini", llm.Issuer{Provider: "anthropic", Channel: 3}, false},
		{"Gemini's", "anthropic", geminiCh, false},
		{"a Gemini client's own", "gemini", llm.Issuer{}, false},
	} {
		b, err := EncodeRequest(req(tc.source, tc.iss))
		if err != nil {
			t.Fatal(err)
		}
		asst := gjson.GetBytes(b, "messages.1.content")
		if tc.keep && (asst.Get("0.signature").Str != "QW50aHJvcGljU2ln" || gjson.GetBytes(b, "thinking.type").Str != "enabled") {
			t.Errorf("%s: signed thinking not kept: %s", tc.name, b)
		}
		if !tc.keep && (strings.Contains(string(b), "QW50aHJvcGljU2ln") || asst.Get("0.type").Str != "tool_use" || gjson.GetBytes(b, "thinking").Exists()) {
			t.Errorf("%s: a token Anthropic cannot verify was sent, or thinking left on: %s", tc.name, b)
		}
	}
}

// A Gemini client returns a streamed thought as several parts, the
// signature on the last: Anthropic gets one block with the whole text.
func TestStreamedThoughtPiecesJoin(t *testing.T) {
	iss := llm.Issuer{Provider: "anthropic", Channel: 2}
	r := &llm.Request{SourceFormat: "gemini", Target: iss, Messages: []llm.Message{
		{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
		{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartReasoning, Text: "The user "},
			{Type: llm.PartReasoning, Text: "wants "},
			{Type: llm.PartReasoning, Text: "weather.", Signature: "U2ln", Issuer: iss},
			{Type: llm.PartText, Text: "Calling."},
		}},
	}}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	asst := gjson.GetBytes(b, "messages.1.content")
	if asst.Get("#").Int() != 2 || asst.Get("0.thinking").Str != "The user wants weather." || asst.Get("0.signature").Str != "U2ln" {
		t.Errorf("thought pieces not joined: %s", asst.Raw)
	}
}
