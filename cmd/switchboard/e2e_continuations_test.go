package main

// Multi-turn agent traffic across providers: gemini-cli tool turns served
// by other providers, Claude Code continuations whose signed thinking must
// go back only to the provider and account that signed it, and the
// vendor extensions chat UIs send. The fakes refuse what the providers
// refuse (unpaired tool calls, foreign signatures), so a broken history
// fails here, and every answer is checked against the published schemas
// by the node.

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/llm"
)

// gemini-cli's history: the model's earlier functionCall without an id,
// and the functionResponse with an id gemini-cli minted itself.
const mxGeminiCLIToolTurn = `{"contents":[
  {"role":"user","parts":[{"text":"Read the README"}]},
  {"role":"model","parts":[{"functionCall":{"name":"read_file","args":{"absolute_path":"/src/README.md"}}}]},
  {"role":"user","parts":[{"functionResponse":{"id":"read_file-1761034567890-3f9a1c2b7e4d5","name":"read_file","response":{"output":"# Switchboard"}}}]}%s],
 "systemInstruction":{"role":"user","parts":[{"text":"You are a CLI agent."}]},
 "tools":[{"functionDeclarations":[{"name":"read_file","description":"Read a file","parametersJsonSchema":{"type":"object","properties":{"absolute_path":{"type":"string"}},"required":["absolute_path"]}}]}],
 "generationConfig":{"temperature":0%s}}`

// TestMatrixGeminiCLIToolTurns: the history above reaches OpenAI and
// Anthropic with each call paired to its result (the fakes answer 400
// otherwise, as the providers do), stream and not, and so does the
// next-speaker check gemini-cli makes after each turn (a JSON answer to
// responseJsonSchema).
func TestMatrixGeminiCLIToolTurns(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	hdr := map[string]string{"X-Goog-Api-Key": testKey, "User-Agent": "GeminiCLI/0.9.0 (linux; x64)"}
	for _, fam := range []string{"openai", "anthropic"} {
		f := m.family(fam)
		for _, stream := range []bool{false, true} {
			f.up.SetHandler(f.reply(mxAnswer{text: "The README names the project."}))
			path := "/v1beta/models/" + f.model + ":generateContent"
			if stream {
				path = "/v1beta/models/" + f.model + ":streamGenerateContent?alt=sse"
			}
			resp := m.n.post(t, path, "", fmt.Sprintf(mxGeminiCLIToolTurn, "", ""), hdr)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || mxGeminiText(body) != "The README names the project." {
				t.Fatalf("%s stream=%v: %d %s\nupstream got: %s", fam, stream, resp.StatusCode, body, f.up.Last(t).Body)
			}
			up := gjson.ParseBytes(f.up.Last(t).Body)
			var callID, resultID string
			if fam == "openai" {
				callID = up.Get(`messages.#(role=="assistant").tool_calls.0.id`).Str
				resultID = up.Get(`messages.#(role=="tool").tool_call_id`).Str
			} else {
				callID = up.Get(`messages.#(role=="assistant").content.#(type=="tool_use").id`).Str
				resultID = up.Get(`messages.2.content.#(type=="tool_result").tool_use_id`).Str
			}
			if callID == "" || callID != resultID {
				t.Errorf("%s stream=%v: call id %q, result id %q: %s", fam, stream, callID, resultID, up.Raw)
			}
		}

		// The next-speaker check: the same history, gemini-cli's question
		// and a JSON schema for the answer.
		const verdict = `{"reasoning":"The model answered.","next_speaker":"user"}`
		if fam == "openai" {
			f.up.SetHandler(gatewaytest.OpenAIChat{Text: verdict, PromptTokens: 50, CompletionTokens: 12}.Handler())
		} else {
			f.up.SetHandler(gatewaytest.Anthropic{ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_ns", Name: "json_response", Arguments: verdict}}, InputTokens: 50, OutputTokens: 12}.Handler())
		}
		question := `,{"role":"model","parts":[{"text":"The README names the project."}]},{"role":"user","parts":[{"text":"Analyze *only* the content and structure of your immediately preceding response. Who should speak next?"}]}`
		schema := `,"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"reasoning":{"type":"string"},"next_speaker":{"type":"string","enum":["user","model"]}},"required":["reasoning","next_speaker"]}`
		resp := m.n.post(t, "/v1beta/models/"+f.model+":generateContent", "", fmt.Sprintf(mxGeminiCLIToolTurn, question, schema), hdr)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s next-speaker: %d %s\nupstream got: %s", fam, resp.StatusCode, body, f.up.Last(t).Body)
		}
		if got := gjson.GetBytes(body, "candidates.0.content.parts.0.text").Str; gjson.Get(got, "next_speaker").Str != "user" {
			t.Errorf("%s next-speaker answer %q is not the JSON verdict: %s", fam, got, body)
		}
		up := gjson.ParseBytes(f.up.Last(t).Body)
		if fam == "openai" && up.Get("response_format.json_schema.schema.properties.next_speaker.enum.1").Str != "model" {
			t.Errorf("responseJsonSchema did not reach OpenAI as a json_schema: %s", up.Raw)
		}
		if fam == "anthropic" && up.Get(`tools.#(name=="json_response").input_schema.required.1`).Str != "next_speaker" {
			t.Errorf("responseJsonSchema did not reach Anthropic as the answer tool: %s", up.Raw)
		}
	}
}

// mxGeminiText joins the answer text of a Gemini body: one response, or
// an alt=sse stream of them.
func mxGeminiText(body []byte) string {
	var sb strings.Builder
	add := func(r gjson.Result) {
		r.Get("candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
			if !p.Get("thought").Bool() {
				sb.WriteString(p.Get("text").Str)
			}
			return true
		})
	}
	if gjson.ValidBytes(body) {
		add(gjson.ParseBytes(body))
		return sb.String()
	}
	for _, line := range strings.Split(string(body), "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			add(gjson.Parse(d))
		}
	}
	return sb.String()
}

// Claude Code's request, trimmed: thinking on, a Bash tool, the beta header.
func mxClaudeCodeParams(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model: anthropic.Model(model), MaxTokens: 8192,
		System:   []anthropic.TextBlockParam{{Text: "You are Claude Code."}},
		Thinking: anthropic.ThinkingConfigParamOfEnabled(2048),
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "Bash", Description: anthropic.String("Run a command"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"command": map[string]any{"type": "string"}}, Required: []string{"command"}}}}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("List the files"))},
	}
}

var mxClaudeCodeBeta = aoption.WithHeader("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14")

// mxToolUse returns the tool_use block of a message.
func mxToolUse(t *testing.T, msg *anthropic.Message) anthropic.ContentBlockUnion {
	t.Helper()
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			return b
		}
	}
	t.Fatalf("no tool_use in %s", msg.RawJSON())
	return anthropic.ContentBlockUnion{}
}

const mxClaudeCodeGeminiConfig = `
channels:
  - name: gemini-a
    type: gemini
    base_url: %s
    api_keys: [gemini-key-a]
    models: [gemini-2.5-flash]
    priority: 10
  - name: gemini-b
    type: gemini
    base_url: %s
    api_keys: [gemini-key-b]
    models: [gemini-2.5-flash]
  - name: up-anthropic
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream]
    models: [claude-sonnet-4-20250514]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// TestMatrixClaudeCodeContinuationOnGemini: a Claude Code conversation
// served by a Gemini model. Gemini's thoughtSignature of its functionCall
// reaches the client inside a thinking block (in the gateway's envelope);
// on the next turn it goes back verbatim to the Gemini account that issued
// it — and only there: when that turn fails over to another Gemini account
// the signature is dropped (Google's validator-skip value instead), and
// when the user switches to a Claude model the Gemini token never reaches
// Anthropic (and thinking is left off for the unsigned tool turn, which
// Anthropic would refuse). The fakes refuse every token they did not issue.
func TestMatrixClaudeCodeContinuationOnGemini(t *testing.T) {
	t.Parallel()
	const gSig = "Q2lRQjBlMmtGdW5jdGlvbkNhbGxTaWduYXR1cmVB" // base64, as Gemini sends it
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "nonstream", true: "stream"}[stream], func(t *testing.T) {
			t.Parallel()
			ga := gatewaytest.NewUpstream(t, nil)
			gb := gatewaytest.NewUpstream(t, nil)
			an := gatewaytest.NewUpstream(t, nil)
			n := startNode(t, mxClaudeCodeGeminiConfig, ga.URL, gb.URL, an.URL)
			c := mxAnthropicClient(n, &mxIdTransport{})

			// Turn 1: Gemini thinks, then calls Bash with a signed call.
			ga.SetHandler(gatewaytest.Gemini{Thought: "I should list the files.", ToolCalls: []gatewaytest.ToolCall{{Name: "Bash", Arguments: `{"command":"ls"}`}},
				ThoughtSignature: gSig, PromptTokens: 40, CandidatesTokens: 8}.Handler())
			p := mxClaudeCodeParams("gemini-2.5-flash")
			msg, err := mxAnthropicSend(c, p, stream, mxClaudeCodeBeta)
			if err != nil {
				t.Fatal(err)
			}
			use := mxToolUse(t, msg)
			var envelope string
			for _, b := range msg.Content {
				if b.Type == "thinking" && b.Signature != "" {
					envelope = b.Signature
				}
			}
			if !strings.HasPrefix(envelope, llm.WrappedTokenPrefix) || strings.Contains(string(msg.RawJSON()), gSig) {
				t.Fatalf("the Gemini signature is not in an envelope on a thinking block: %s", msg.RawJSON())
			}
			if !strings.HasPrefix(use.ID, "toolu_") || msg.StopReason != "tool_use" {
				t.Errorf("tool_use id %q, stop %q", use.ID, msg.StopReason)
			}
			p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "README.md\ngo.mod", false)))

			// Turn 2 on the same account: the signature goes home verbatim.
			ga.SetHandler(gatewaytest.Gemini{Text: "Two files.", PromptTokens: 60, CandidatesTokens: 3, Signatures: gatewaytest.Signatures{gSig: ""}}.Handler())
			if _, err := mxAnthropicSend(c, p, stream, mxClaudeCodeBeta); err != nil {
				t.Fatalf("same-account continuation: %v\nupstream got: %s", err, ga.Last(t).Body)
			}
			up := gjson.ParseBytes(ga.Last(t).Body)
			fc := mxFindObj(up, func(r gjson.Result) bool { return r.Get("functionCall").Exists() })
			if fc.Get("thoughtSignature").Str != gSig || fc.Get("functionCall.name").Str != "Bash" {
				t.Errorf("signature did not go back to its issuer verbatim: %s", up.Raw)
			}
			if strings.Contains(up.Raw, llm.WrappedTokenPrefix) {
				t.Errorf("an envelope reached the upstream: %s", up.Raw)
			}

			// Turn 2 failing over to the other Gemini account: dropped.
			ga.SetHandler(gatewaytest.GeminiError(503, "overloaded"))
			gb.SetHandler(gatewaytest.Gemini{Text: "Two files.", PromptTokens: 60, CandidatesTokens: 3, Signatures: gatewaytest.Signatures{}}.Handler())
			if _, err := mxAnthropicSend(c, p, stream, mxClaudeCodeBeta); err != nil {
				t.Fatalf("failover continuation: %v\nupstream got: %s", err, gb.Last(t).Body)
			}
			up = gjson.ParseBytes(gb.Last(t).Body)
			fc = mxFindObj(up, func(r gjson.Result) bool { return r.Get("functionCall").Exists() })
			if strings.Contains(up.Raw, gSig) || fc.Get("thoughtSignature").Str != "skip_thought_signature_validator" {
				t.Errorf("account A's signature reached account B: %s", up.Raw)
			}

			// The user switches to a Claude model: the envelope makes the
			// gateway translate even Anthropic→Anthropic, dropping the token.
			an.SetHandler(gatewaytest.Anthropic{Text: "Two files.", InputTokens: 60, OutputTokens: 3, Signatures: gatewaytest.Signatures{}}.Handler())
			p.Model = "claude-sonnet-4-20250514"
			if _, err := mxAnthropicSend(c, p, stream, mxClaudeCodeBeta); err != nil {
				t.Fatalf("continuation on Claude: %v\nupstream got: %s", err, an.Last(t).Body)
			}
			got := an.Last(t)
			if strings.Contains(string(got.Body), gSig) || strings.Contains(string(got.Body), llm.WrappedTokenPrefix) {
				t.Errorf("a Gemini token reached Anthropic: %s", got.Body)
			}
			if gjson.GetBytes(got.Body, "thinking.type").Str == "enabled" {
				t.Errorf("thinking left on for a tool turn Anthropic cannot verify: %s", got.Body)
			}
			if got.Header.Get("Anthropic-Beta") == "" {
				t.Errorf("the client's anthropic-beta header was not kept on the translated same-format call")
			}
		})
	}
}

// TestMatrixClaudeCodeSignedHistoryToEachUpstream: a history whose thinking
// Anthropic signed, served next by OpenAI and by Gemini: the signature
// reaches neither (Gemini gets no thoughtSignature of Anthropic's, only
// its validator-skip value on the call), and the tool turn stays paired.
func TestMatrixClaudeCodeSignedHistoryToEachUpstream(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	for _, fam := range []string{"openai", "gemini"} {
		f := m.family(fam)
		for _, stream := range []bool{false, true} {
			if fam == "gemini" {
				f.up.SetHandler(gatewaytest.Gemini{Text: "Two files.", PromptTokens: 60, CandidatesTokens: 3, Signatures: gatewaytest.Signatures{}}.Handler())
			} else {
				f.up.SetHandler(f.reply(mxAnswer{text: "Two files."}))
			}
			p := mxClaudeCodeParams(f.model)
			p.Messages = append(p.Messages,
				anthropic.NewAssistantMessage(anthropic.NewThinkingBlock(mxAnthropicSig, "I should list the files."),
					anthropic.NewToolUseBlock("toolu_01ABC", map[string]any{"command": "ls"}, "Bash")),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_01ABC", "README.md", false)))
			msg, err := mxAnthropicSend(mxAnthropicClient(m.n, &mxIdTransport{}), p, stream, mxClaudeCodeBeta)
			if err != nil {
				t.Fatalf("%s stream=%v: %v\nupstream got: %s", fam, stream, err, f.up.Last(t).Body)
			}
			if len(msg.Content) == 0 || msg.Content[len(msg.Content)-1].Text != "Two files." {
				t.Errorf("%s: answer %s", fam, msg.RawJSON())
			}
			body := string(f.up.Last(t).Body)
			if strings.Contains(body, mxAnthropicSig) {
				t.Errorf("%s stream=%v: Anthropic's signature crossed providers: %s", fam, stream, body)
			}
			if fam == "gemini" {
				fc := mxFindObj(gjson.Parse(body), func(r gjson.Result) bool { return r.Get("functionCall").Exists() })
				if fc.Get("thoughtSignature").Str != "skip_thought_signature_validator" {
					t.Errorf("functionCall from a Claude history: %s", body)
				}
			}
		}
	}
}

// TestMatrixGeminiClientThinkingOnAnthropic: gemini-cli served by a Claude
// model with thinking and tools. The thought comes back as thought parts
// whose thoughtSignature carries Anthropic's signature in an envelope
// (streamed thoughts arrive in pieces); on the next turn Anthropic gets
// its signed thinking block back whole — the fake checks the signature
// against the thinking text — so thinking can stay on.
func TestMatrixGeminiClientThinkingOnAnthropic(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	f := m.family("anthropic")
	const thought = "The user wants the weather in Paris."
	for _, stream := range []bool{false, true} {
		f.up.SetHandler(gatewaytest.Anthropic{Thinking: thought, Signature: mxAnthropicSig,
			ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_w1", Name: "get_weather", Arguments: mxWeatherArgs}}, InputTokens: 30, OutputTokens: 9}.Handler())
		c := mxGeminiClient(t, m.n, &mxIdTransport{})
		contents, cfg := mxGeminiRequest(mxQuery{user: "Weather in Paris?", tool: true})
		cfg.ThinkingConfig = &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: genai.Ptr[int32](2048)}
		res, err := mxGeminiSend(c, f.model, contents, cfg, stream)
		if err != nil {
			t.Fatal(err)
		}
		var call *genai.Part
		signed := 0
		for _, p := range res.parts {
			if p.FunctionCall != nil {
				call = p
			}
			if p.Thought && len(p.ThoughtSignature) > 0 {
				signed++
				if env := base64.StdEncoding.EncodeToString(p.ThoughtSignature); !strings.HasPrefix(env, llm.WrappedTokenPrefix) {
					t.Errorf("stream=%v: thought signature %q is not the gateway's envelope", stream, env)
				}
			}
		}
		if call == nil || signed != 1 {
			t.Fatalf("stream=%v: call %v, %d signed thought parts: %+v", stream, call, signed, res.parts)
		}
		f.up.SetHandler(gatewaytest.Anthropic{Text: "Sunny.", InputTokens: 40, OutputTokens: 2, Signatures: gatewaytest.Signatures{mxAnthropicSig: thought}}.Handler())
		contents = append(contents, &genai.Content{Role: "model", Parts: res.parts},
			&genai.Content{Role: "user", Parts: []*genai.Part{{FunctionResponse: &genai.FunctionResponse{ID: call.FunctionCall.ID, Name: "get_weather", Response: map[string]any{"sky": "sunny"}}}}})
		if _, err := mxGeminiSend(c, f.model, contents, cfg, stream); err != nil {
			t.Fatalf("stream=%v: %v\nupstream got: %s", stream, err, f.up.Last(t).Body)
		}
		up := gjson.ParseBytes(f.up.Last(t).Body)
		asst := up.Get(`messages.#(role=="assistant").content`)
		if up.Get("thinking.type").Str != "enabled" || asst.Get("0.type").Str != "thinking" || asst.Get("0.signature").Str != mxAnthropicSig || asst.Get("0.thinking").Str != thought {
			t.Errorf("stream=%v: Anthropic did not get its signed thinking back whole: %s", stream, up.Raw)
		}
	}
}

// TestMatrixExtraBodyThinking: the thinking controls OpenAI-format chat UIs
// send for Gemini models (extra_body.google.thinking_config, or the
// flattened google form) and for Claude models (thinking, also inside
// extra_body) reach the upstream as its native controls, and the answer
// text holds no thoughts (they come as reasoning_content).
func TestMatrixExtraBodyThinking(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	gm := m.family("gemini")
	c := mxOpenaiClient(m.n, &mxIdTransport{})
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		opt            option.RequestOption
		budget         int64
		includeThought bool
	}{
		{"extra_body", option.WithJSONSet("extra_body", map[string]any{"google": map[string]any{"thinking_config": map[string]any{"thinking_budget": 800, "include_thoughts": true}}}), 800, true},
		{"flattened", option.WithJSONSet("google", map[string]any{"thinking_config": map[string]any{"thinking_budget": 1200, "include_thoughts": false}}), 1200, false},
		{"off", option.WithJSONSet("extra_body", map[string]any{"google": map[string]any{"thinking_config": map[string]any{"thinking_budget": 0}}}), 0, false},
	} {
		gm.up.SetHandler(gatewaytest.Gemini{Thought: "Secret plan.", Text: "The answer.", PromptTokens: 10, CandidatesTokens: 3}.Handler())
		resp, err := c.Chat.Completions.New(ctx, mxOpenaiParams(gm.model, mxQuery{user: "Think, then answer."}), tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tcfg := gjson.GetBytes(gm.up.Last(t).Body, "generationConfig.thinkingConfig")
		if tcfg.Get("thinkingBudget").Int() != tc.budget || !tcfg.Get("thinkingBudget").Exists() || tcfg.Get("includeThoughts").Bool() != tc.includeThought {
			t.Errorf("%s: thinkingConfig %s", tc.name, tcfg.Raw)
		}
		if b := string(gm.up.Last(t).Body); strings.Contains(b, "extra_body") || strings.Contains(b, "thinking_config") {
			t.Errorf("%s: the OpenAI-side extension itself reached Gemini: %s", tc.name, gm.up.Last(t).Body)
		}
		msg := resp.Choices[0].Message
		if msg.Content != "The answer." || gjson.Get(msg.RawJSON(), "reasoning_content").Str != "Secret plan." {
			t.Errorf("%s: content %q (thoughts must not be in it), reasoning_content %q", tc.name, msg.Content, gjson.Get(msg.RawJSON(), "reasoning_content").Str)
		}
	}

	an := m.family("anthropic")
	an.up.SetHandler(gatewaytest.Anthropic{Thinking: "Let me think.", Signature: mxAnthropicSig, Text: "The answer.", InputTokens: 10, OutputTokens: 3}.Handler())
	resp, err := c.Chat.Completions.New(ctx, mxOpenaiParams(an.model, mxQuery{user: "Think, then answer.", maxTokens: 4096}),
		option.WithJSONSet("extra_body", map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 2048}}))
	if err != nil {
		t.Fatal(err)
	}
	up := gjson.ParseBytes(an.up.Last(t).Body)
	if up.Get("thinking.type").Str != "enabled" || up.Get("thinking.budget_tokens").Int() != 2048 || up.Get("extra_body").Exists() {
		t.Errorf("extra_body.thinking did not reach Anthropic as thinking: %s", up.Raw)
	}
	if msg := resp.Choices[0].Message; msg.Content != "The answer." {
		t.Errorf("content %q holds more than the answer", msg.Content)
	}
}

// TestMatrixEstimatedUsageIsShown: when the upstream reports no usage the
// gateway bills an estimate, and the client sees that same estimate in its
// own fields (it used to see zeros), stream and not.
func TestMatrixEstimatedUsageIsShown(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	f := m.family("openai")
	f.up.SetHandler(gatewaytest.OpenAIChat{Text: "An answer of a few words", NoUsage: true}.Handler())
	for _, ck := range mxClientKinds[1:] { // Anthropic and Gemini clients: translated
		for _, stream := range []bool{false, true} {
			r, err := ck.chat(t, m.n, f.model, mxQuery{user: "Say something", stream: stream})
			if err != nil {
				t.Fatal(err)
			}
			rec := m.n.usage(t, func(u gateway.UsageRecord) bool { return u.RequestID == r.requestID })
			if rec.UsageSource != gateway.UsageEstimated || rec.Usage.InputTokens == 0 || rec.Usage.OutputTokens == 0 {
				t.Fatalf("%s stream=%v: ledger %+v (%s)", ck.name, stream, rec.Usage, rec.UsageSource)
			}
			if r.in != rec.Usage.InputTokens || r.out != rec.Usage.OutputTokens {
				t.Errorf("%s stream=%v: client saw in %d out %d, billed in %d out %d", ck.name, stream, r.in, r.out, rec.Usage.InputTokens, rec.Usage.OutputTokens)
			}
		}
	}
}

// TestMatrixAnthropicStreamInputInMessageStart: translated Anthropic
// streams say the input token count in message_start (older SDKs read it
// only there): Gemini's own count, or the gateway's estimate when the
// upstream reports usage only at the end (OpenAI).
func TestMatrixAnthropicStreamInputInMessageStart(t *testing.T) {
	t.Parallel()
	m := mxNewMatrix(t)
	for _, fam := range []string{"gemini", "openai"} {
		f := m.family(fam)
		f.up.SetHandler(f.reply(mxAnswer{text: "Hello there"}))
		path, hdr, body := mxClientKinds[1].raw(f.model, true)
		resp := m.n.post(t, path, "", body, hdr)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var start gjson.Result
		for _, line := range strings.Split(string(raw), "\n") {
			if d := strings.TrimPrefix(line, "data: "); gjson.Get(d, "type").Str == "message_start" {
				start = gjson.Get(d, "message.usage")
			}
		}
		in := start.Get("input_tokens").Int()
		switch {
		case fam == "gemini" && in != mxIn:
			t.Errorf("gemini: message_start input_tokens %d, want Gemini's prompt count %d: %s", in, mxIn, raw)
		case in <= 0:
			t.Errorf("%s: message_start has no input count: %s", fam, raw)
		}
	}
}

const mxSimulatorConfig = `
channels:
  - name: sim
    type: simulator
    models: [sim-1]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// TestSimulatorHonoursMaxTokens: the built-in simulator stops at the
// caller's output limit in every client format, stream and not.
func TestSimulatorHonoursMaxTokens(t *testing.T) {
	t.Parallel()
	n := startNode(t, mxSimulatorConfig)
	for _, ck := range mxClientKinds {
		for _, stream := range []bool{false, true} {
			r, err := ck.chat(t, n, "sim-1", mxQuery{user: "Tell me everything about gateways", maxTokens: 256, stream: stream})
			if err != nil {
				t.Fatalf("%s: %v", ck.name, err)
			}
			if r.out <= 0 || r.out > 256 {
				t.Errorf("%s stream=%v: %d output tokens for max_tokens 256", ck.name, stream, r.out)
			}
			if r.stop != map[string]string{"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}[ck.name] {
				t.Errorf("%s stream=%v: stop %q for an answer cut at its limit", ck.name, stream, r.stop)
			}
		}
	}
}
