package main

// Models reachable only through the Responses API (settings.responses:
// only, e.g. codex models): chat completions clients are translated to it.

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const respOnlyConfig = `
channels:
  - name: codex
    type: openai
    base_url: %s
    api_keys: [sk-upstream-codex]
    models: [gpt-5-codex]
    settings: {responses: only}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

func TestChatToResponsesOnlyChannel(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIResponses{Text: "Patched the file.", Summary: "Looked at it.", EncryptedContent: "gAAAA-codex",
		InputTokens: 20, OutputTokens: 6, CachedTokens: 8, ReasoningTokens: 2}.Handler())
	n := startNode(t, respOnlyConfig, up.URL)
	c := n.client(testKey, "/v1")
	params := openai.ChatCompletionNewParams{
		Model: "gpt-5-codex", ReasoningEffort: openai.ReasoningEffortHigh,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be precise."), openai.UserMessage("Fix the bug.")},
	}
	resp, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Patched the file." || resp.Usage.PromptTokens != 20 || resp.Usage.PromptTokensDetails.CachedTokens != 8 {
		t.Errorf("answer %+v usage %+v", resp.Choices[0].Message, resp.Usage)
	}
	got := up.Last(t)
	if got.Path != "/v1/responses" || gjson.GetBytes(got.Body, "instructions").Str != "Be precise." ||
		gjson.GetBytes(got.Body, "input.0.content.0.text").Str != "Fix the bug." || gjson.GetBytes(got.Body, "reasoning.effort").Str != "high" ||
		gjson.GetBytes(got.Body, "store").Type != gjson.False {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}

	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var text strings.Builder
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Patched the file." {
		t.Errorf("stream text %q", text.String())
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "chat.completions" && r.Stream })
	if rec.ChannelName != "codex" || rec.Usage.InputTokens != 20 || rec.Usage.ReasoningTokens != 2 || rec.UsageSource != gateway.UsageFromUpstream {
		t.Errorf("ledger %+v", rec)
	}
}
