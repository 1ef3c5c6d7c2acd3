package main

// Golden files of every translated Responses cell: what a Responses client
// gets from each upstream kind, complete and streamed, for a text answer
// with reasoning and for a tool call. The node checks every answer and
// event against the published schema; the golden files pin the grammar
// (event order, indexes, sequence numbers) and the content.

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"testing"

	"switchboard/internal/gatewaytest"
	"switchboard/internal/gatewaytest/golden"
)

var (
	goldenIDs   = regexp.MustCompile(`[0-9a-f]{24}`)
	goldenTimes = regexp.MustCompile(`"(created_at|completed_at)": ?\d+`)
)

// normalizeResponses blanks what differs between runs: ids derived from
// the request id, and timestamps.
func normalizeResponses(b []byte) []byte {
	b = goldenIDs.ReplaceAll(b, []byte("ID"))
	return goldenTimes.ReplaceAll(b, []byte(`"$1":0`))
}

func TestResponsesGolden(t *testing.T) {
	t.Parallel()
	e := startResponsesTranslate(t)
	call := []gatewaytest.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}
	scenarios := []struct {
		name   string
		chat   gatewaytest.OpenAIChat
		claude gatewaytest.Anthropic
		gemini gatewaytest.Gemini
		body   string
	}{
		{"text",
			gatewaytest.OpenAIChat{Text: "Hello from chat.", PromptTokens: 11, CompletionTokens: 4, CachedTokens: 2, ReasoningTokens: 1},
			gatewaytest.Anthropic{Thinking: "Let me think.", Signature: "sig-claude-1", Text: "Hello from Claude.", InputTokens: 9, OutputTokens: 6, CacheReadTokens: 3},
			gatewaytest.Gemini{Thought: "Pondering.", Text: "Hello from Gemini.", PromptTokens: 8, CandidatesTokens: 5, ThoughtsTokens: 2},
			`{"model":"%s","instructions":"Be brief.","input":"Say hello","reasoning":{"effort":"medium","summary":"auto"},"max_output_tokens":2048,"metadata":{"t":"1"}%s}`},
		{"tool_call",
			gatewaytest.OpenAIChat{ToolCalls: call, PromptTokens: 5, CompletionTokens: 3},
			gatewaytest.Anthropic{ToolCalls: []gatewaytest.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}, InputTokens: 5, OutputTokens: 3},
			gatewaytest.Gemini{ToolCalls: call, ThoughtSignature: "sig-gemini-1", PromptTokens: 5, CandidatesTokens: 3},
			`{"model":"%s","input":"Weather in Paris?","tools":[{"type":"function","name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],"tool_choice":"auto","parallel_tool_calls":false%s}`},
	}
	for _, sc := range scenarios {
		e.chat.SetHandler(sc.chat.Handler())
		e.claude.SetHandler(sc.claude.Handler())
		e.gemini.SetHandler(sc.gemini.Handler())
		for _, up := range []struct{ name, model string }{{"chat", "llama-3"}, {"anthropic", "claude-sonnet-4"}, {"gemini", "gemini-2.5-pro"}} {
			for _, stream := range []bool{false, true} {
				name, ext, extra := sc.name+"."+up.name, ".json", ""
				if stream {
					name, ext, extra = name+".stream", ".sse", `,"stream":true`
				}
				t.Run(name, func(t *testing.T) {
					resp := e.n.post(t, "/v1/responses", testKey, fmt.Sprintf(sc.body, up.model, extra), nil)
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("%d %s", resp.StatusCode, b)
					}
					if !stream {
						b = golden.Indent(t, b)
					}
					golden.Check(t, filepath.Join("testdata", "responses", name+".golden"+ext), normalizeResponses(b))
				})
			}
		}
	}
}
