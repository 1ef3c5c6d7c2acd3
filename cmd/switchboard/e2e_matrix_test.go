package main

// The compatibility matrix end to end: every client format (openai-go,
// anthropic-sdk-go, genai) against every upstream family (OpenAI, Anthropic,
// Gemini fakes), asserting what the official SDK saw and what the recording
// upstream received. docs/compatibility.md describes the same matrix.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const mxMatrixConfig = `
channels:
  - name: up-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-openai]
    models: [gpt-4o-mini]
  - name: up-anthropic
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream]
    models: [claude-sonnet-4-20250514]
  - name: up-gemini
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream-key]
    models: [gemini-2.5-flash]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// Scripted usage, in hub terms: 1000 input tokens of which 400 were read
// from cache (and, from Anthropic, 100 written to it), 200 output tokens.
const (
	mxIn, mxCached, mxWrite, mxOut = 1000, 400, 100, 200
)

// A 1×1 transparent PNG.
const mxPngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

var mxWeatherSchema = map[string]any{
	"type":       "object",
	"properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}},
	"required":   []string{"city"},
}

const mxWeatherArgs = `{"city":"Paris","days":3}`

// ---------------------------------------------------------------- upstreams

// mxFamily is one upstream family: its fake, and readers of the native
// request it received.
type mxFamily struct {
	name, channel, model string
	up                   *gatewaytest.Upstream
	// reply scripts an answer; fail scripts an error of the given status.
	reply func(a mxAnswer) http.HandlerFunc
	fail  func(status int) http.HandlerFunc
	// system, maxTokens and tool read the recorded native request.
	system    func(b []byte) string
	maxTokens func(b []byte) int64
	tool      func(b []byte) (name string, schema gjson.Result)
	// image finds a base64 image in its native shape: mime type and data.
	image func(b []byte) (mime, data string)
	// cacheWrite is the cache-write count the family reports (only
	// Anthropic reports writes).
	cacheWrite int64
}

// mxAnswer is a scripted upstream answer.
type mxAnswer struct {
	text                string
	tool                bool
	thinking, signature string
}

func mxOpenAIFamily(up *gatewaytest.Upstream) *mxFamily {
	return &mxFamily{
		name: "openai", channel: "up-openai", model: "gpt-4o-mini", up: up,
		reply: func(a mxAnswer) http.HandlerFunc {
			o := gatewaytest.OpenAIChat{Text: a.text, PromptTokens: mxIn, CachedTokens: mxCached, CompletionTokens: mxOut}
			if a.tool {
				o.ToolCalls = []gatewaytest.ToolCall{{ID: "call_w1", Name: "get_weather", Arguments: mxWeatherArgs}}
			}
			return o.Handler()
		},
		fail: func(status int) http.HandlerFunc {
			return gatewaytest.OpenAIError(status, fmt.Sprintf("upstream says %d", status), nil)
		},
		system: func(b []byte) string {
			return mxTextOf(gjson.GetBytes(b, `messages.#(role=="system").content`))
		},
		maxTokens: func(b []byte) int64 {
			if v := gjson.GetBytes(b, "max_completion_tokens"); v.Exists() {
				return v.Int()
			}
			return gjson.GetBytes(b, "max_tokens").Int()
		},
		tool: func(b []byte) (string, gjson.Result) {
			t := gjson.GetBytes(b, "tools.0")
			if t.Get("type").Str != "function" {
				return "", gjson.Result{}
			}
			return t.Get("function.name").Str, t.Get("function.parameters")
		},
		image: func(b []byte) (string, string) {
			img := mxFindObj(gjson.ParseBytes(b), func(r gjson.Result) bool { return r.Get("type").Str == "image_url" })
			url := img.Get("image_url.url").Str
			mime, data, ok := strings.Cut(strings.TrimPrefix(url, "data:"), ";base64,")
			if !ok {
				return "", ""
			}
			return mime, data
		},
	}
}

func mxAnthropicFamily(up *gatewaytest.Upstream) *mxFamily {
	return &mxFamily{
		name: "anthropic", channel: "up-anthropic", model: "claude-sonnet-4-20250514", up: up, cacheWrite: mxWrite,
		reply: func(a mxAnswer) http.HandlerFunc {
			s := gatewaytest.Anthropic{Text: a.text, Thinking: a.thinking, Signature: a.signature,
				InputTokens: mxIn - mxCached - mxWrite, CacheReadTokens: mxCached, CacheWriteTokens: mxWrite, OutputTokens: mxOut}
			if a.tool {
				s.ToolCalls = []gatewaytest.ToolCall{{ID: "toolu_w1", Name: "get_weather", Arguments: mxWeatherArgs}}
			}
			return s.Handler()
		},
		fail: func(status int) http.HandlerFunc {
			typ := "invalid_request_error"
			if status == 429 {
				typ = "rate_limit_error"
			}
			return gatewaytest.AnthropicError(status, typ, fmt.Sprintf("upstream says %d", status), nil)
		},
		system:    func(b []byte) string { return mxTextOf(gjson.GetBytes(b, "system")) },
		maxTokens: func(b []byte) int64 { return gjson.GetBytes(b, "max_tokens").Int() },
		tool: func(b []byte) (string, gjson.Result) {
			t := gjson.GetBytes(b, "tools.0")
			return t.Get("name").Str, t.Get("input_schema")
		},
		image: func(b []byte) (string, string) {
			img := mxFindObj(gjson.ParseBytes(b), func(r gjson.Result) bool { return r.Get("type").Str == "image" })
			if img.Get("source.type").Str != "base64" {
				return "", ""
			}
			return img.Get("source.media_type").Str, img.Get("source.data").Str
		},
	}
}

func mxGeminiFamily(up *gatewaytest.Upstream) *mxFamily {
	return &mxFamily{
		name: "gemini", channel: "up-gemini", model: "gemini-2.5-flash", up: up,
		reply: func(a mxAnswer) http.HandlerFunc {
			g := gatewaytest.Gemini{Text: a.text, Thought: a.thinking, ThoughtSignature: a.signature,
				PromptTokens: mxIn, CachedTokens: mxCached, CandidatesTokens: mxOut}
			if a.tool {
				g.ToolCalls = []gatewaytest.ToolCall{{Name: "get_weather", Arguments: mxWeatherArgs}}
			}
			return g.Handler()
		},
		fail: func(status int) http.HandlerFunc {
			return gatewaytest.GeminiError(status, fmt.Sprintf("upstream says %d", status))
		},
		system:    func(b []byte) string { return mxTextOf(gjson.GetBytes(b, "systemInstruction.parts")) },
		maxTokens: func(b []byte) int64 { return gjson.GetBytes(b, "generationConfig.maxOutputTokens").Int() },
		tool: func(b []byte) (string, gjson.Result) {
			d := gjson.GetBytes(b, "tools.0.functionDeclarations.0")
			s := d.Get("parametersJsonSchema")
			if !s.Exists() {
				s = d.Get("parameters")
			}
			return d.Get("name").Str, s
		},
		image: func(b []byte) (string, string) {
			img := mxFindObj(gjson.ParseBytes(b), func(r gjson.Result) bool { return r.Get("inlineData").IsObject() })
			return img.Get("inlineData.mimeType").Str, img.Get("inlineData.data").Str
		},
	}
}

// mxTextOf joins a string or an array of {text} blocks.
func mxTextOf(r gjson.Result) string {
	if r.Type == gjson.String {
		return r.Str
	}
	var sb strings.Builder
	r.ForEach(func(_, v gjson.Result) bool {
		sb.WriteString(v.Get("text").Str)
		return true
	})
	return sb.String()
}

// mxFindObj returns the first object (depth first) that satisfies pred.
func mxFindObj(r gjson.Result, pred func(gjson.Result) bool) gjson.Result {
	if r.IsObject() && pred(r) {
		return r
	}
	var found gjson.Result
	if r.IsObject() || r.IsArray() {
		r.ForEach(func(_, v gjson.Result) bool {
			found = mxFindObj(v, pred)
			return !found.Exists()
		})
	}
	return found
}

// ---------------------------------------------------------------- clients

// mxQuery is what a test asks, in client-neutral terms.
type mxQuery struct {
	system    string
	user      string
	maxTokens int64 // 0: omitted (the Anthropic client must send one: 1024)
	tool      bool
	stream    bool
	image     bool
}

// mxReply is what the client saw, read from its own SDK's fields.
type mxReply struct {
	text, stop         string
	toolName, toolArgs string
	toolID             string
	// in/cached/cacheWrite/out are the client's own usage fields:
	// prompt_tokens / input_tokens / promptTokenCount and so on.
	in, cached, cacheWrite, out int64
	requestID                   string
	// id, created and model are the answer's own fields (OpenAI id and
	// created, Anthropic id, Gemini responseId and modelVersion).
	id, model string
	created   int64
}

// mxIdTransport remembers the X-Request-Id of the latest response, so each
// call's ledger record can be found.
type mxIdTransport struct {
	mu   sync.Mutex
	last string
}

func (t *mxIdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if resp != nil {
		t.mu.Lock()
		t.last = resp.Header.Get("X-Request-Id")
		t.mu.Unlock()
	}
	return resp, err
}

func (t *mxIdTransport) id() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// mxClientKind is one inbound format: how its SDK is driven and how its
// errors look on the wire.
type mxClientKind struct {
	name string
	// stopText/stopTool are the client's stop reasons for a plain answer
	// and for a tool call.
	stopText, stopTool string
	chat               func(t *testing.T, n *node, model string, q mxQuery) (mxReply, error)
	// raw is a minimal request for error tests: path, auth header, body.
	raw func(model string, stream bool) (path string, hdr map[string]string, body string)
	// checkError asserts the error body is in the client's own shape.
	checkError func(t *testing.T, status int, body []byte)
	// sdkStatus extracts the HTTP status from an SDK error.
	sdkStatus func(err error) int
}

var mxClientKinds = []mxClientKind{
	{
		name: "openai", stopText: "stop", stopTool: "tool_calls", chat: mxOpenaiChat,
		raw: func(model string, stream bool) (string, map[string]string, string) {
			return "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey},
				fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"x"}]}`, model, stream)
		},
		checkError: func(t *testing.T, status int, body []byte) {
			e := gjson.GetBytes(body, "error")
			if !e.IsObject() || e.Get("message").Str == "" || e.Get("type").Str == "" {
				t.Errorf("not an OpenAI error body: %s", body)
			}
		},
		sdkStatus: func(err error) int {
			var e *openai.Error
			if errors.As(err, &e) {
				return e.StatusCode
			}
			return 0
		},
	},
	{
		name: "anthropic", stopText: "end_turn", stopTool: "tool_use", chat: mxAnthropicChat,
		raw: func(model string, stream bool) (string, map[string]string, string) {
			return "/v1/messages", map[string]string{"X-Api-Key": testKey, "Anthropic-Version": "2023-06-01"},
				fmt.Sprintf(`{"model":%q,"max_tokens":100,"stream":%v,"messages":[{"role":"user","content":"x"}]}`, model, stream)
		},
		checkError: func(t *testing.T, status int, body []byte) {
			want := map[int]string{400: "invalid_request_error", 429: "rate_limit_error"}[status]
			if gjson.GetBytes(body, "type").Str != "error" || gjson.GetBytes(body, "error.type").Str != want || gjson.GetBytes(body, "error.message").Str == "" {
				t.Errorf("not an Anthropic %s body: %s", want, body)
			}
		},
		sdkStatus: func(err error) int {
			var e *anthropic.Error
			if errors.As(err, &e) {
				return e.StatusCode
			}
			return 0
		},
	},
	{
		name: "gemini", stopText: "STOP", stopTool: "STOP", chat: mxGeminiChat,
		raw: func(model string, stream bool) (string, map[string]string, string) {
			path := "/v1beta/models/" + model + ":generateContent"
			if stream {
				path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
			}
			return path, map[string]string{"X-Goog-Api-Key": testKey}, `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`
		},
		checkError: func(t *testing.T, status int, body []byte) {
			want := map[int]string{400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}[status]
			e := gjson.GetBytes(body, "error")
			if e.Get("code").Int() != int64(status) || e.Get("status").Str != want || e.Get("message").Str == "" {
				t.Errorf("not a Gemini %s body: %s", want, body)
			}
		},
		sdkStatus: func(err error) int {
			var e genai.APIError
			if errors.As(err, &e) {
				return e.Code
			}
			var pe *genai.APIError
			if errors.As(err, &pe) {
				return pe.Code
			}
			return 0
		},
	},
}

func mxOpenaiClient(n *node, rt http.RoundTripper) openai.Client {
	return openai.NewClient(option.WithBaseURL(n.srv.URL+"/v1"), option.WithAPIKey(testKey),
		option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{Transport: rt}))
}

func mxOpenaiParams(model string, q mxQuery) openai.ChatCompletionNewParams {
	var msgs []openai.ChatCompletionMessageParamUnion
	if q.system != "" {
		msgs = append(msgs, openai.SystemMessage(q.system))
	}
	if q.image {
		msgs = append(msgs, openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart(q.user),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + mxPngB64}),
		}))
	} else {
		msgs = append(msgs, openai.UserMessage(q.user))
	}
	p := openai.ChatCompletionNewParams{Model: model, Messages: msgs}
	if q.maxTokens > 0 {
		p.MaxCompletionTokens = openai.Int(q.maxTokens)
	}
	if q.tool {
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Weather for a city"), Parameters: mxWeatherSchema,
		})}
	}
	if q.stream {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return p
}

func mxOpenaiChat(t *testing.T, n *node, model string, q mxQuery) (mxReply, error) {
	rt := &mxIdTransport{}
	c := mxOpenaiClient(n, rt)
	ctx := context.Background()
	p := mxOpenaiParams(model, q)
	var comp openai.ChatCompletion
	if q.stream {
		s := c.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			return mxReply{requestID: rt.id()}, err
		}
		comp = acc.ChatCompletion
	} else {
		resp, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			return mxReply{requestID: rt.id()}, err
		}
		comp = *resp
	}
	if len(comp.Choices) == 0 {
		t.Fatalf("no choices in %s", comp.RawJSON())
	}
	ch := comp.Choices[0]
	r := mxReply{text: ch.Message.Content, stop: ch.FinishReason, requestID: rt.id(),
		in: comp.Usage.PromptTokens, cached: comp.Usage.PromptTokensDetails.CachedTokens, out: comp.Usage.CompletionTokens,
		id: comp.ID, created: comp.Created, model: comp.Model}
	if len(ch.Message.ToolCalls) > 0 {
		tc := ch.Message.ToolCalls[0]
		r.toolName, r.toolArgs, r.toolID = tc.Function.Name, tc.Function.Arguments, tc.ID
	}
	return r, nil
}

func mxAnthropicClient(n *node, rt http.RoundTripper) anthropic.Client {
	return anthropic.NewClient(aoption.WithoutEnvironmentDefaults(), aoption.WithBaseURL(n.srv.URL),
		aoption.WithAPIKey(testKey), aoption.WithMaxRetries(0), aoption.WithHTTPClient(&http.Client{Transport: rt}))
}

func mxAnthropicParams(model string, q mxQuery) anthropic.MessageNewParams {
	blocks := []anthropic.ContentBlockParamUnion{anthropic.NewTextBlock(q.user)}
	if q.image {
		blocks = append(blocks, anthropic.NewImageBlockBase64("image/png", mxPngB64))
	}
	p := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 1024, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(blocks...)}}
	if q.maxTokens > 0 {
		p.MaxTokens = q.maxTokens
	}
	if q.system != "" {
		p.System = []anthropic.TextBlockParam{{Text: q.system}}
	}
	if q.tool {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Weather for a city"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: mxWeatherSchema["properties"], Required: []string{"city"}}}}}
	}
	return p
}

func mxAnthropicSend(c anthropic.Client, p anthropic.MessageNewParams, stream bool, opts ...aoption.RequestOption) (*anthropic.Message, error) {
	ctx := context.Background()
	if !stream {
		return c.Messages.New(ctx, p, opts...)
	}
	s := c.Messages.NewStreaming(ctx, p, opts...)
	msg := anthropic.Message{}
	for s.Next() {
		if err := msg.Accumulate(s.Current()); err != nil {
			return nil, fmt.Errorf("accumulate: %w", err)
		}
	}
	return &msg, s.Err()
}

func mxAnthropicChat(t *testing.T, n *node, model string, q mxQuery) (mxReply, error) {
	rt := &mxIdTransport{}
	msg, err := mxAnthropicSend(mxAnthropicClient(n, rt), mxAnthropicParams(model, q), q.stream)
	if err != nil {
		return mxReply{requestID: rt.id()}, err
	}
	r := mxReply{stop: string(msg.StopReason), requestID: rt.id(), in: msg.Usage.InputTokens, cached: msg.Usage.CacheReadInputTokens,
		cacheWrite: msg.Usage.CacheCreationInputTokens, out: msg.Usage.OutputTokens, id: msg.ID, model: string(msg.Model)}
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			r.text += b.Text
		case "tool_use":
			r.toolName, r.toolArgs, r.toolID = b.Name, string(b.Input), b.ID
		}
	}
	return r, nil
}

func mxGeminiClient(t *testing.T, n *node, rt http.RoundTripper) *genai.Client {
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI, HTTPClient: &http.Client{Transport: rt},
		HTTPOptions: genai.HTTPOptions{BaseURL: n.srv.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mxGeminiRequest(q mxQuery) ([]*genai.Content, *genai.GenerateContentConfig) {
	parts := []*genai.Part{{Text: q.user}}
	if q.image {
		raw, _ := base64.StdEncoding.DecodeString(mxPngB64)
		parts = append(parts, &genai.Part{InlineData: &genai.Blob{MIMEType: "image/png", Data: raw}})
	}
	cfg := &genai.GenerateContentConfig{}
	if q.system != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: q.system}}}
	}
	if q.maxTokens > 0 {
		cfg.MaxOutputTokens = int32(q.maxTokens)
	}
	if q.tool {
		cfg.Tools = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
			Name: "get_weather", Description: "Weather for a city", ParametersJsonSchema: mxWeatherSchema,
		}}}}
	}
	return []*genai.Content{{Role: "user", Parts: parts}}, cfg
}

// mxGeminiResult is a genai answer with the streamed chunks merged.
type mxGeminiResult struct {
	parts      []*genai.Part
	finish     genai.FinishReason
	usage      *genai.GenerateContentResponseUsageMetadata
	responseID string // of every chunk: they must agree
	model      string
}

func mxGeminiSend(c *genai.Client, model string, contents []*genai.Content, cfg *genai.GenerateContentConfig, stream bool) (mxGeminiResult, error) {
	ctx := context.Background()
	var res mxGeminiResult
	add := func(resp *genai.GenerateContentResponse) {
		if len(resp.Candidates) > 0 && resp.Candidates[0].Content != nil {
			res.parts = append(res.parts, resp.Candidates[0].Content.Parts...)
		}
		if len(resp.Candidates) > 0 && resp.Candidates[0].FinishReason != "" {
			res.finish = resp.Candidates[0].FinishReason
		}
		if resp.UsageMetadata != nil {
			res.usage = resp.UsageMetadata
		}
		if res.responseID == "" || res.responseID == resp.ResponseID {
			res.responseID = resp.ResponseID
		} else {
			res.responseID = "chunks disagree: " + res.responseID + " / " + resp.ResponseID
		}
		if resp.ModelVersion != "" {
			res.model = resp.ModelVersion
		}
	}
	if !stream {
		resp, err := c.Models.GenerateContent(ctx, model, contents, cfg)
		if err != nil {
			return res, err
		}
		add(resp)
		return res, nil
	}
	for resp, err := range c.Models.GenerateContentStream(ctx, model, contents, cfg) {
		if err != nil {
			return res, err
		}
		add(resp)
	}
	return res, nil
}

func mxGeminiChat(t *testing.T, n *node, model string, q mxQuery) (mxReply, error) {
	rt := &mxIdTransport{}
	contents, cfg := mxGeminiRequest(q)
	res, err := mxGeminiSend(mxGeminiClient(t, n, rt), model, contents, cfg, q.stream)
	if err != nil {
		return mxReply{requestID: rt.id()}, err
	}
	r := mxReply{stop: string(res.finish), requestID: rt.id(), id: res.responseID, model: res.model}
	for _, p := range res.parts {
		switch {
		case p.FunctionCall != nil:
			args, _ := json.Marshal(p.FunctionCall.Args)
			r.toolName, r.toolArgs, r.toolID = p.FunctionCall.Name, string(args), p.FunctionCall.ID
		case !p.Thought:
			r.text += p.Text
		}
	}
	if u := res.usage; u != nil {
		r.in, r.cached, r.out = int64(u.PromptTokenCount), int64(u.CachedContentTokenCount), int64(u.CandidatesTokenCount)
	}
	return r, nil
}

// ---------------------------------------------------------------- fixture

type mxMatrix struct {
	n        *node
	families []*mxFamily
}

func mxNewMatrix(t *testing.T) *mxMatrix {
	t.Helper()
	oa := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "unused"}.Handler())
	an := gatewaytest.NewUpstream(t, gatewaytest.Anthropic{Text: "unused"}.Handler())
	gm := gatewaytest.NewUpstream(t, gatewaytest.Gemini{Text: "unused"}.Handler())
	n := startNode(t, mxMatrixConfig, oa.URL, an.URL, gm.URL)
	return &mxMatrix{n: n, families: []*mxFamily{mxOpenAIFamily(oa), mxAnthropicFamily(an), mxGeminiFamily(gm)}}
}

func (m *mxMatrix) family(name string) *mxFamily {
	for _, f := range m.families {
		if f.name == name {
			return f
		}
	}
	panic("no family " + name)
}

// mxWantUsage is what a client of kind c must see in its own fields for the
// scripted usage relayed from family f.
func mxWantUsage(c mxClientKind, f *mxFamily) (in, cached, cacheWrite, out int64) {
	if c.name == "anthropic" {
		// Anthropic's input_tokens exclude cache reads and writes.
		return mxIn - mxCached - f.cacheWrite, mxCached, f.cacheWrite, mxOut
	}
	return mxIn, mxCached, 0, mxOut
}

// mxCheckLedger asserts the call's ledger record: channel, hub usage and a
// positive cost (every model of the matrix is priced).
func mxCheckLedger(t *testing.T, n *node, f *mxFamily, requestID string, stream bool) {
	t.Helper()
	if requestID == "" {
		t.Error("no X-Request-Id on the response")
		return
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.RequestID == requestID })
	if rec.ChannelName != f.channel || rec.Stream != stream || rec.Status != 200 {
		t.Errorf("ledger record channel %q stream %v status %d", rec.ChannelName, rec.Stream, rec.Status)
	}
	if rec.Usage.InputTokens != mxIn || rec.Usage.CachedInputTokens != mxCached || rec.Usage.OutputTokens != mxOut || rec.Usage.CacheWriteTokens != f.cacheWrite {
		t.Errorf("ledger usage %+v (source %s), want in %d cached %d write %d out %d", rec.Usage, rec.UsageSource, mxIn, mxCached, f.cacheWrite, mxOut)
	}
	if rec.UsageSource != gateway.UsageFromUpstream {
		t.Errorf("ledger usage source %q", rec.UsageSource)
	}
	if rec.CostNanoUSD <= 0 {
		t.Errorf("cost %d for a priced model", rec.CostNanoUSD)
	}
}

// mxCheckAnswerFields asserts what strict clients rely on beyond the
// schema: a translated OpenAI answer was created now (not 1970), an
// Anthropic id has its msg_ prefix, a Gemini answer names its responseId
// and modelVersion (the same in every chunk).
func mxCheckAnswerFields(t *testing.T, ck mxClientKind, f *mxFamily, r mxReply) {
	t.Helper()
	switch ck.name {
	case "openai":
		now := time.Now().Unix()
		if f.name != "openai" && (r.created < now-300 || r.created > now+5) {
			t.Errorf("translated answer created %d, want about %d (now)", r.created, now)
		}
		if r.id == "" || r.model == "" {
			t.Errorf("answer id %q model %q", r.id, r.model)
		}
	case "anthropic":
		if !strings.HasPrefix(r.id, "msg_") || r.model == "" {
			t.Errorf("message id %q (want msg_ prefix), model %q", r.id, r.model)
		}
	case "gemini":
		if r.id == "" || strings.HasPrefix(r.id, "chunks disagree") || r.model == "" {
			t.Errorf("responseId %q, modelVersion %q", r.id, r.model)
		}
	}
}

// ---------------------------------------------------------------- the matrix

func TestMatrix(t *testing.T) {
	t.Parallel()
	for _, ck := range mxClientKinds {
		for _, fam := range []string{"openai", "anthropic", "gemini"} {
			t.Run(ck.name+"_to_"+fam, func(t *testing.T) {
				t.Parallel() // each cell has its own node and upstreams
				m := mxNewMatrix(t)
				mxRunCell(t, m, ck, m.family(fam))
			})
		}
	}
}

func mxRunCell(t *testing.T, m *mxMatrix, ck mxClientKind, f *mxFamily) {
	n := m.n
	for _, stream := range []bool{false, true} {
		mode := map[bool]string{false: "nonstream", true: "stream"}[stream]

		t.Run("text_"+mode, func(t *testing.T) {
			f.up.SetHandler(f.reply(mxAnswer{text: "Hello from the " + f.name + " upstream"}))
			r, err := ck.chat(t, n, f.model, mxQuery{system: "Be brief.", user: "Say hello", stream: stream})
			if err != nil {
				t.Fatal(err)
			}
			if want := "Hello from the " + f.name + " upstream"; r.text != want {
				t.Errorf("client saw text %q, want %q", r.text, want)
			}
			mxCheckAnswerFields(t, ck, f, r)
			if r.stop != ck.stopText {
				t.Errorf("stop reason %q, want %q", r.stop, ck.stopText)
			}
			wi, wc, ww, wo := mxWantUsage(ck, f)
			if r.in != wi || r.cached != wc || r.cacheWrite != ww || r.out != wo {
				t.Errorf("client usage in %d cached %d write %d out %d, want %d %d %d %d", r.in, r.cached, r.cacheWrite, r.out, wi, wc, ww, wo)
			}
			got := f.up.Last(t)
			if s := f.system(got.Body); s != "Be brief." {
				t.Errorf("system prompt in the upstream's native slot: %q\n%s", s, got.Body)
			}
			mt := f.maxTokens(got.Body)
			switch {
			case ck.name == "anthropic" && mt != 1024:
				t.Errorf("client's max_tokens 1024 arrived as %d", mt)
			case ck.name != "anthropic" && f.name == "anthropic" && mt <= 0:
				t.Errorf("Anthropic upstream got no max_tokens default: %s", got.Body)
			}
			mxCheckLedger(t, n, f, r.requestID, stream)
		})

		t.Run("max_tokens_"+mode, func(t *testing.T) {
			f.up.SetHandler(f.reply(mxAnswer{text: "ok"}))
			if _, err := ck.chat(t, n, f.model, mxQuery{user: "hi", maxTokens: 321, stream: stream}); err != nil {
				t.Fatal(err)
			}
			if mt := f.maxTokens(f.up.Last(t).Body); mt != 321 {
				t.Errorf("max tokens 321 arrived as %d: %s", mt, f.up.Last(t).Body)
			}
		})

		t.Run("tool_"+mode, func(t *testing.T) {
			f.up.SetHandler(f.reply(mxAnswer{tool: true}))
			r, err := ck.chat(t, n, f.model, mxQuery{user: "Weather in Paris for 3 days?", tool: true, stream: stream})
			if err != nil {
				t.Fatal(err)
			}
			name, schema := f.tool(f.up.Last(t).Body)
			if name != "get_weather" || schema.Get("properties.city.type").Str != "string" || schema.Get("required.0").Str != "city" {
				t.Errorf("tool definition not in native shape: %s", f.up.Last(t).Body)
			}
			if r.toolName != "get_weather" {
				t.Fatalf("client saw no tool call: %+v", r)
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(r.toolArgs), &args); err != nil || args["city"] != "Paris" || args["days"] != float64(3) {
				t.Errorf("tool arguments %q (%v)", r.toolArgs, err)
			}
			if r.stop != ck.stopTool {
				t.Errorf("stop reason %q, want %q", r.stop, ck.stopTool)
			}
			if ck.name != "gemini" && r.toolID == "" {
				t.Errorf("tool call without an id")
			}
			if ck.name == "anthropic" && !strings.HasPrefix(r.toolID, "toolu_") {
				t.Errorf("Anthropic tool_use id %q lacks the toolu_ prefix", r.toolID)
			}
			mxCheckLedger(t, n, f, r.requestID, stream)
		})
	}

	t.Run("image", func(t *testing.T) {
		f.up.SetHandler(f.reply(mxAnswer{text: "a pixel"}))
		if _, err := ck.chat(t, n, f.model, mxQuery{user: "What is this?", image: true}); err != nil {
			t.Fatal(err)
		}
		mime, data := f.image(f.up.Last(t).Body)
		if mime != "image/png" || data != mxPngB64 {
			t.Errorf("base64 image did not reach the upstream natively (mime %q): %s", mime, f.up.Last(t).Body)
		}
	})

	for _, status := range []int{400, 429} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("error_%d_stream_%v", status, stream), func(t *testing.T) {
				n, f := n, f
				if status == 429 {
					// A 429 cools the channel down: later calls would get 503
					// "no healthy channel", so each 429 gets a fresh node.
					fresh := mxNewMatrix(t)
					n, f = fresh.n, fresh.family(f.name)
				}
				f.up.SetHandler(f.fail(status))
				before := f.up.Count()
				path, hdr, body := ck.raw(f.model, stream)
				resp := n.post(t, path, "", body, hdr)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
				}
				ck.checkError(t, status, b)
				if !strings.Contains(string(b), fmt.Sprintf("upstream says %d", status)) {
					t.Errorf("upstream's message lost: %s", b)
				}
				if strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "upstream-") {
					t.Errorf("error leaks upstream details: %s", b)
				}
				if c := f.up.Count() - before; c != 1 {
					t.Errorf("upstream called %d times", c)
				}
			})
		}
	}
	t.Run("error_sdk", func(t *testing.T) {
		f.up.SetHandler(f.fail(400))
		_, err := ck.chat(t, n, f.model, mxQuery{user: "x"})
		if got := ck.sdkStatus(err); got != 400 {
			t.Errorf("SDK error %v: status %d, want 400", err, got)
		}
	})
}
