package main

// The Responses API translated through the hub: openai-go's Responses
// client against OpenAI-compatible chat, Anthropic and Gemini fakes,
// streaming and not, with tools, reasoning and structured output; each
// answer and event checked against the published schema by the node.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const respTranslateConfig = `
channels:
  - name: up-chat
    type: openai-compatible
    base_url: %s
    api_keys: [sk-upstream-chat]
    models: [llama-3]
  - name: up-claude
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream]
    models: [claude-sonnet-4]
  - name: up-gemini
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream-key]
    models: [gemini-2.5-pro]
  - name: up-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-openai]
    models: [gpt-5]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: bob
    key: ` + testKeyLimit + `
    models: ["*"]
`

type respTranslateEnv struct {
	n                            *node
	chat, claude, gemini, openai *gatewaytest.Upstream
}

func startResponsesTranslate(t *testing.T) *respTranslateEnv {
	t.Helper()
	e := &respTranslateEnv{
		chat: gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "Hello from chat.", PromptTokens: 11, CompletionTokens: 4, CachedTokens: 2, ReasoningTokens: 1}.Handler()),
		claude: gatewaytest.NewUpstream(t, gatewaytest.Anthropic{Thinking: "Let me think.", Signature: "sig-claude-1", Text: "Hello from Claude.",
			InputTokens: 9, OutputTokens: 6, CacheReadTokens: 3}.Handler()),
		gemini: gatewaytest.NewUpstream(t, gatewaytest.Gemini{Thought: "Pondering.", Text: "Hello from Gemini.", PromptTokens: 8, CandidatesTokens: 5, ThoughtsTokens: 2}.Handler()),
	}
	e.openai = gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponses{Text: "Hello from OpenAI.", InputTokens: 7, OutputTokens: 4}.Handler())
	e.n = startNode(t, respTranslateConfig, e.chat.URL, e.claude.URL, e.gemini.URL, e.openai.URL)
	return e
}

func TestResponsesTranslated(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	c := e.n.client(testKey, "/v1")
	cells := []struct {
		model, text string
		up          *gatewaytest.Upstream
		path        string
		reasoning   string // the summary the client should see
	}{
		{"llama-3", "Hello from chat.", e.chat, "/v1/chat/completions", ""},
		{"claude-sonnet-4", "Hello from Claude.", e.claude, "/v1/messages", "Let me think."},
		{"gemini-2.5-pro", "Hello from Gemini.", e.gemini, "/v1beta/models/gemini-2.5-pro:", "Pondering."},
	}
	params := func(model string) responses.ResponseNewParams {
		return responses.ResponseNewParams{
			Model:           model,
			Instructions:    openai.String("Be brief."),
			MaxOutputTokens: openai.Int(2048),
			Reasoning:       shared.ReasoningParam{Effort: shared.ReasoningEffortMedium, Summary: shared.ReasoningSummaryAuto},
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("Say hello", responses.EasyInputMessageRoleUser),
			}},
		}
	}
	for _, cell := range cells {
		t.Run(cell.model, func(t *testing.T) {
			resp, err := c.Responses.New(context.Background(), params(cell.model))
			if err != nil {
				t.Fatal(err)
			}
			if resp.OutputText() != cell.text || resp.Status != "completed" || !strings.HasPrefix(resp.ID, "resp_") || resp.Instructions.OfString != "Be brief." {
				t.Errorf("answer %q status %s id %s instructions %+v", resp.OutputText(), resp.Status, resp.ID, resp.Instructions)
			}
			if cell.reasoning != "" {
				if len(resp.Output) == 0 || resp.Output[0].Type != "reasoning" || len(resp.Output[0].Summary) == 0 || resp.Output[0].Summary[0].Text != cell.reasoning {
					t.Errorf("reasoning item missing: %s", resp.RawJSON())
				}
			}
			if resp.Usage.InputTokens == 0 || resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens {
				t.Errorf("usage %+v", resp.Usage)
			}
			got := cell.up.Last(t)
			if !strings.HasPrefix(got.Path, cell.path) {
				t.Errorf("upstream path %s", got.Path)
			}
			checkSystem(t, cell.model, got.Body)

			stream := c.Responses.NewStreaming(context.Background(), params(cell.model))
			var text strings.Builder
			var types []string
			var completed responses.Response
			for stream.Next() {
				ev := stream.Current()
				types = append(types, ev.Type)
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.Delta)
				case "response.completed":
					completed = ev.Response
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != cell.text || completed.OutputText() != cell.text || completed.Usage.TotalTokens == 0 {
				t.Errorf("stream text %q completed %q usage %+v events %v", text.String(), completed.OutputText(), completed.Usage, types)
			}
			if types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != "response.completed" {
				t.Errorf("event order %v", types)
			}
			rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
				return r.Endpoint == "responses" && r.Stream && r.Model == cell.model
			})
			if rec.UsageSource != gateway.UsageFromUpstream || rec.Usage.InputTokens == 0 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
}

// checkSystem: the instructions reached each upstream as its system prompt.
func checkSystem(t *testing.T, model string, body []byte) {
	t.Helper()
	var sys string
	switch {
	case strings.HasPrefix(model, "claude"):
		sys = gjson.GetBytes(body, "system").String()
	case strings.HasPrefix(model, "gemini"):
		sys = gjson.GetBytes(body, "systemInstruction.parts.0.text").Str
	default:
		sys = gjson.GetBytes(body, `messages.#(role=="system").content`).String()
	}
	if !strings.Contains(sys, "Be brief.") {
		t.Errorf("%s: system prompt %q in %s", model, sys, body)
	}
}

func TestResponsesTranslatedTools(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	call := []gatewaytest.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}
	c := e.n.client(testKey, "/v1")
	tool := responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{Name: "get_weather", Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
	for _, model := range []string{"llama-3", "claude-sonnet-4", "gemini-2.5-pro"} {
		t.Run(model, func(t *testing.T) {
			e.chat.SetHandler(gatewaytest.OpenAIChat{ToolCalls: call, PromptTokens: 5, CompletionTokens: 3}.Handler())
			e.claude.SetHandler(gatewaytest.Anthropic{ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}, InputTokens: 5, OutputTokens: 3}.Handler())
			e.gemini.SetHandler(gatewaytest.Gemini{ToolCalls: call, PromptTokens: 5, CandidatesTokens: 3}.Handler())
			// Turn one: the model calls the tool.
			stream := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
				Model: model, Tools: []responses.ToolUnionParam{tool},
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
			})
			var args strings.Builder
			var completed responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.function_call_arguments.delta":
					args.WriteString(ev.Delta)
				case "response.completed":
					completed = ev.Response
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			var fc responses.ResponseOutputItemUnion
			for _, it := range completed.Output {
				if it.Type == "function_call" {
					fc = it
				}
			}
			if fc.Name != "get_weather" || fc.Arguments.OfString != `{"city":"Paris"}` || args.String() != fc.Arguments.OfString || fc.CallID == "" {
				t.Fatalf("function call %+v (deltas %q): %s", fc, args.String(), completed.RawJSON())
			}
			// Turn two: the client sends the call and its output (an
			// array with text and an image) back in full.
			input := responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser),
				responses.ResponseInputItemParamOfFunctionCall(fc.Arguments.OfString, fc.CallID, fc.Name),
				responses.ResponseInputItemParamOfFunctionCallOutput(responses.ResponseFunctionCallOutputItemListParam{
					{OfInputText: &responses.ResponseInputTextContentParam{Text: "Sunny, 21C"}},
					{OfInputImage: &responses.ResponseInputImageContentParam{ImageURL: openai.String("data:image/png;base64,iVBORw0KGgo=")}},
				}),
			}
			input[2].OfFunctionCallOutput.CallID = openai.String(fc.CallID)
			e.chat.SetHandler(gatewaytest.OpenAIChat{Text: "It is sunny.", PromptTokens: 9, CompletionTokens: 3}.Handler())
			e.claude.SetHandler(gatewaytest.Anthropic{Text: "It is sunny.", InputTokens: 9, OutputTokens: 3}.Handler())
			e.gemini.SetHandler(gatewaytest.Gemini{Text: "It is sunny.", PromptTokens: 9, CandidatesTokens: 3}.Handler())
			resp, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
				Model: model, Tools: []responses.ToolUnionParam{tool}, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			})
			if err != nil {
				t.Fatal(err) // the fakes refuse histories their providers refuse
			}
			if resp.OutputText() != "It is sunny." {
				t.Errorf("turn two %s", resp.RawJSON())
			}
		})
	}
}

func TestResponsesTranslatedRefusals(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	cases := []struct{ name, body, param, inMessage string }{
		{"custom tool", `{"model":"claude-sonnet-4","input":"hi","tools":[{"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}}]}`, "tools[0]", `"apply_patch"`},
		{"empty namespace", `{"model":"gemini-2.5-pro","input":"hi","tools":[{"type":"namespace","name":"shell","tools":[]}]}`, "tools[0].tools", `"shell"`},
		{"custom tool in a namespace", `{"model":"gemini-2.5-pro","input":"hi","tools":[{"type":"namespace","name":"shell","description":"d","tools":[{"type":"custom","name":"patch"}]}]}`, "tools[0].tools[0]", `"patch"`},
		{"tool_search", `{"model":"llama-3","input":"hi","tools":[{"type":"tool_search","execution":"server"}]}`, "tools[0]", `"tool_search"`},
		{"web search built-in", `{"model":"llama-3","input":"hi","tools":[{"type":"web_search_preview"}]}`, "tools[0]", `"web_search_preview"`},
		{"unknown item", `{"model":"claude-sonnet-4","input":[{"type":"additional_tools","tools":[]}]}`, "input[0].type", `"additional_tools"`},
		{"stored file", `{"model":"claude-sonnet-4","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "input[0].content[0].file_id", "file_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.n.post(t, "/v1/responses", testKey, tc.body, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != tc.param || !strings.Contains(gjson.GetBytes(b, "error.message").Str, tc.inMessage) {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	if n := e.chat.Count() + e.claude.Count() + e.gemini.Count(); n != 0 {
		t.Errorf("%d refused requests reached an upstream", n)
	}
}

// A Claude turn with thinking and a tool call, sent back as the output
// items the client got (reasoning with its encrypted_content, the call, its
// output): the thinking block must reach Anthropic first in the assistant
// turn with the signature Anthropic issued for that very text.
func TestResponsesReasoningRoundTrip(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	sigs := gatewaytest.Signatures{"sig-claude-1": "Let me think."}
	e.claude.SetHandler(gatewaytest.Anthropic{Thinking: "Let me think.", Signature: "sig-claude-1",
		ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}, InputTokens: 5, OutputTokens: 3, Signatures: sigs}.Handler())
	tools := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	first := e.n.post(t, "/v1/responses", testKey, `{"model":"claude-sonnet-4","reasoning":{"effort":"high","summary":"auto"},"input":"Weather in Paris?",`+tools+`}`, nil)
	b, _ := io.ReadAll(first.Body)
	first.Body.Close()
	if first.StatusCode != 200 {
		t.Fatalf("%d %s", first.StatusCode, b)
	}
	output := gjson.GetBytes(b, "output")
	if output.Get("0.type").Str != "reasoning" || output.Get("0.encrypted_content").Str == "" || output.Get("1.type").Str != "function_call" {
		t.Fatalf("output %s", output.Raw)
	}
	callID := output.Get("1.call_id").Str
	e.claude.SetHandler(gatewaytest.Anthropic{Text: "It is sunny.", InputTokens: 9, OutputTokens: 3, Signatures: sigs}.Handler())
	input := `[{"role":"user","content":"Weather in Paris?"},` + output.Get("0").Raw + `,` + output.Get("1").Raw +
		`,{"type":"function_call_output","call_id":"` + callID + `","output":"Sunny"}]`
	second := e.n.post(t, "/v1/responses", testKey, `{"model":"claude-sonnet-4","reasoning":{"effort":"high","summary":"auto"},"input":`+input+`,`+tools+`}`, nil)
	b, _ = io.ReadAll(second.Body)
	second.Body.Close()
	if second.StatusCode != 200 || gjson.GetBytes(b, "output.0.content.0.text").Str != "It is sunny." {
		t.Fatalf("turn two: %d %s", second.StatusCode, b)
	}
	got := e.claude.Last(t).Body
	turn := gjson.GetBytes(got, "messages.1")
	if turn.Get("content.0.type").Str != "thinking" || turn.Get("content.0.signature").Str != "sig-claude-1" || turn.Get("content.1.id").Str != callID {
		t.Errorf("assistant turn sent to Anthropic: %s", turn.Raw)
	}
}

// A namespace's functions reach the upstream as namespace__function and
// its calls come back with their namespace, and a call sent back with
// its namespace reaches the upstream under the same flat name.
func TestResponsesNamespaceTools(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	e.claude.SetHandler(gatewaytest.Anthropic{ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_ns", Name: "shell__exec", Arguments: `{"cmd":"ls"}`}}, InputTokens: 5, OutputTokens: 3}.Handler())
	tools := `"tools":[{"type":"namespace","name":"shell","description":"Shell tools.","tools":[{"type":"function","name":"exec","description":"Run a command.","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}]}]`
	for _, stream := range []string{"false", "true"} {
		resp := e.n.post(t, "/v1/responses", testKey, `{"model":"claude-sonnet-4","stream":`+stream+`,"input":"ls",`+tools+`}`, nil)
		var out gjson.Result
		if stream == "true" {
			out = sseResponse(t, resp.Body)
		} else {
			b, _ := io.ReadAll(resp.Body)
			out = gjson.ParseBytes(b)
		}
		resp.Body.Close()
		call := out.Get(`output.#(type=="function_call")`)
		if call.Get("name").Str != "exec" || call.Get("namespace").Str != "shell" || out.Get("tools.0.type").Str != "namespace" {
			t.Errorf("stream %s: %s", stream, out.Raw)
		}
		if got := gjson.GetBytes(e.claude.Last(t).Body, "tools.0"); got.Get("name").Str != "shell__exec" || !strings.Contains(got.Get("description").Str, "Run a command.") {
			t.Errorf("Claude got tool %s", got.Raw)
		}
	}
	e.claude.SetHandler(gatewaytest.Anthropic{Text: "done", InputTokens: 5, OutputTokens: 1}.Handler())
	status, b := e.n.do(t, http.MethodPost, "/v1/responses", testKey, `{"model":"claude-sonnet-4",`+tools+`,"input":[{"role":"user","content":"ls"},`+
		`{"type":"function_call","call_id":"toolu_ns","namespace":"shell","name":"exec","arguments":"{\"cmd\":\"ls\"}"},{"type":"function_call_output","call_id":"toolu_ns","output":"a.go"}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	if got := gjson.GetBytes(e.claude.Last(t).Body, "messages.1.content.0"); got.Get("name").Str != "shell__exec" {
		t.Errorf("Claude got %s", got.Raw)
	}
}
