package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const cancelConfig = `
channels:
  - name: an
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream]
    models: [claude-sonnet-4-5]
  - name: ge
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream]
    models: [gemini-2.5-flash]
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream]
    models: [gpt-4o-mini]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// endlessAnthropic streams an answer that never ends, one "token " per
// delta, after a message_start whose output_tokens is the placeholder 1.
func endlessAnthropic(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	ev := func(name, data string) bool {
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		return err == nil && rc.Flush() == nil
	}
	ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Millisecond):
		}
		if !ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token "}}`) {
			return
		}
	}
}

// endlessGemini streams an answer that never ends; each chunk's
// usageMetadata counts only what was sent so far, as Gemini's do.
func endlessGemini(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := 1; ; i++ {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Millisecond):
		}
		if _, err := fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"token \"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":20,\"candidatesTokenCount\":%d,\"totalTokenCount\":%d},\"modelVersion\":\"gemini-2.5-flash\"}\n\n", i, 20+i); err != nil || rc.Flush() != nil {
			return
		}
	}
}

// A stream the client cancels is billed for what was produced: an
// Anthropic upstream's placeholder output_tokens of 1 is not the answer's
// length, whether the client speaks Anthropic (pass-through) or OpenAI
// (translated), and a translated Gemini stream is billed likewise.
func TestCancelledStreamBilledForWhatWasProduced(t *testing.T) {
	t.Parallel()
	an := gatewaytest.NewUpstream(t, endlessAnthropic)
	ge := gatewaytest.NewUpstream(t, endlessGemini)
	oa := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "unused"}.Handler())
	n := startNode(t, cancelConfig, an.URL, ge.URL, oa.URL)
	const want = 100 // deltas the client reads before it cancels
	for _, tc := range []struct {
		name, model string
		read        func(ctx context.Context, cancel context.CancelFunc, model string) int
	}{
		{"anthropic client, anthropic upstream", "claude-sonnet-4-5", func(ctx context.Context, cancel context.CancelFunc, model string) int {
			c := anthropic.NewClient(aoption.WithoutEnvironmentDefaults(), aoption.WithBaseURL(n.srv.URL), aoption.WithAPIKey(testKey), aoption.WithMaxRetries(0))
			s := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 10000,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("go on"))}})
			defer s.Close()
			return readDeltas(s.Next, func() bool { return s.Current().Type == "content_block_delta" }, cancel, want)
		}},
		{"openai client, anthropic upstream", "claude-sonnet-4-5", openAIReadUntil(n, want)},
		{"openai client, gemini upstream", "gemini-2.5-flash", openAIReadUntil(n, want)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if got := tc.read(ctx, cancel, tc.model); got != want {
				t.Fatalf("read %d deltas before the stream ended, want %d", got, want)
			}
			rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == tc.model && r.Status == 499 })
			if rec.Usage.OutputTokens < want || rec.Usage.OutputTokens > 50*want {
				t.Errorf("billed %d output tokens for a cancelled stream that delivered %d (usage %+v, source %s)", rec.Usage.OutputTokens, want, rec.Usage, rec.UsageSource)
			}
			if rec.PriceNanoUSD <= 0 {
				t.Errorf("a cancelled stream was charged %d", rec.PriceNanoUSD)
			}
		})
	}
}

func openAIReadUntil(n *node, want int) func(ctx context.Context, cancel context.CancelFunc, model string) int {
	return func(ctx context.Context, cancel context.CancelFunc, model string) int {
		c := n.client(testKey, "/v1")
		s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go on")}})
		defer s.Close()
		return readDeltas(s.Next, func() bool {
			ch := s.Current().Choices
			return len(ch) > 0 && ch[0].Delta.Content != ""
		}, cancel, want)
	}
}

// readDeltas reads a stream until want deltas arrived, then cancels it; it
// returns how many arrived.
func readDeltas(next, isDelta func() bool, cancel context.CancelFunc, want int) int {
	got := 0
	for got < want && next() {
		if isDelta() {
			got++
		}
	}
	cancel()
	return got
}

// A non-streaming call its client abandons after the upstream had the
// request is billed for its input (the provider bills it), marked as such
// in the ledger.
func TestAbandonedCallBilledForInput(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		got.Add(1)
		<-r.Context().Done() // working on it until the gateway gives up
	}
	an := gatewaytest.NewUpstream(t, endlessAnthropic)
	ge := gatewaytest.NewUpstream(t, endlessGemini)
	oa := gatewaytest.NewUpstream(t, slow)
	n := startNode(t, cancelConfig, an.URL, ge.URL, oa.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c := n.client(testKey, "/v1")
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("a long question ", 200))}})
		done <- err
	}()
	gatewaytest.WaitFor(t, 5*time.Second, "the upstream has the request", func() bool { return got.Load() == 1 })
	cancel()
	<-done
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o-mini" && r.Status == 499 })
	if rec.UsageSource != gateway.UsageEstimated || rec.Usage.InputTokens < 200 || rec.Usage.OutputTokens != 0 {
		t.Errorf("abandoned call billed %+v (source %s); want its input, estimated", rec.Usage, rec.UsageSource)
	}
	if rec.PriceNanoUSD <= 0 || !strings.Contains(rec.ErrorMessage, "billed for the input") {
		t.Errorf("abandoned call charged %d, marked %q", rec.PriceNanoUSD, rec.ErrorMessage)
	}
}
