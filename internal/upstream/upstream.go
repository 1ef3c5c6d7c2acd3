// Package upstream knows how to address each kind of channel: the URL of an
// operation, how to authenticate, which client headers may pass and how to
// classify a failure. It never decodes bodies: the relay hands it bytes that
// are already in the channel's format.
package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"switchboard/internal/gateway"
)

// Wire formats a channel speaks.
const (
	FormatOpenAI     = "openai"
	FormatAnthropic  = "anthropic"
	FormatGemini     = "gemini"
	FormatMidjourney = "midjourney"
)

// FormatOf returns the wire format of a channel type.
func FormatOf(t gateway.ChannelType) string {
	switch t {
	case gateway.ChannelAnthropic:
		return FormatAnthropic
	case gateway.ChannelGemini:
		return FormatGemini
	case gateway.ChannelMidjourney:
		return FormatMidjourney
	}
	return FormatOpenAI
}

// DefaultBaseURL is the base URL of a channel type when config leaves it out.
func DefaultBaseURL(t gateway.ChannelType) string {
	switch t {
	case gateway.ChannelOpenAI:
		return "https://api.openai.com"
	case gateway.ChannelAnthropic:
		return "https://api.anthropic.com"
	case gateway.ChannelGemini:
		return "https://generativelanguage.googleapis.com"
	case gateway.ChannelSimulator:
		return SimulatorBaseURL
	}
	return ""
}

// SimulatorBaseURL addresses the in-process simulator; the relay's transport
// routes the "simulator" scheme to it without touching the network.
const SimulatorBaseURL = "simulator://local"

// Op is an upstream operation.
type Op string

const (
	OpChat       Op = "chat"        // OpenAI chat completions / Anthropic messages / Gemini generateContent
	OpCountToken Op = "countTokens" // Anthropic count_tokens / Gemini countTokens
	OpModels     Op = "models"
	// OpEmbeddings is OpenAI /embeddings, or Gemini :batchEmbedContents.
	OpEmbeddings Op = "embeddings"
	// OpEmbedContent is Gemini's single-input :embedContent.
	OpEmbedContent Op = "embedContent"
	// OpResponses is the OpenAI Responses API, POST /v1/responses.
	OpResponses Op = "responses"
	// OpResponsesInputTokens is POST /v1/responses/input_tokens.
	OpResponsesInputTokens Op = "responses/input_tokens"
	// OpResponsesCompact is POST /v1/responses/compact.
	OpResponsesCompact Op = "responses/compact"
	// OpenAI's media operations (Azure serves them per deployment).
	OpImageGenerations Op = "images/generations"
	OpImageEdits       Op = "images/edits"
	OpImageVariations  Op = "images/variations"
	OpTranscriptions   Op = "audio/transcriptions"
	OpTranslations     Op = "audio/translations"
	OpSpeech           Op = "audio/speech"
)

// AzureResponsesAPIVersion is the api-version of Azure's Responses API
// when a channel's settings name none (responses_api_version): the chat
// default predates it.
const AzureResponsesAPIVersion = "2025-04-01-preview"

// SettingResponsesAPIVersion overrides AzureResponsesAPIVersion.
const SettingResponsesAPIVersion = "responses_api_version"

// mediaOp reports an OpenAI media operation, whose path is its name.
func mediaOp(op Op) bool {
	switch op {
	case OpImageGenerations, OpImageEdits, OpImageVariations, OpTranscriptions, OpTranslations, OpSpeech:
		return true
	}
	return false
}

// Body is an upstream request body: bytes, or a reader opened afresh for
// every attempt (a multipart upload re-read from its spool).
type Body struct {
	ContentType string // "" : application/json
	Bytes       []byte
	// Open, when set, supplies the body instead of Bytes; Length is its size.
	Open   func() io.ReadCloser
	Length int64
}

// JSON wraps JSON bytes as a Body.
func JSON(b []byte) Body { return Body{Bytes: b} }

// AzureAPIVersion is used when a channel's settings name none.
const AzureAPIVersion = "2024-10-21"

// AnthropicVersion is sent when calling Anthropic on behalf of a client of
// another format (Anthropic's own clients send theirs).
const AnthropicVersion = "2023-06-01"

// Call is one upstream attempt.
type Call struct {
	Channel *gateway.Channel
	APIKey  string
	Model   string // upstream model name
	Op      Op
	Stream  bool
	Body    Body
	// ClientHeader and ClientQuery are forwarded on the pass-through path,
	// as far as the channel's allow-lists say (passthrough.go); nil when
	// translating.
	ClientHeader http.Header
	ClientQuery  url.Values
}

// baseWithVersion appends "/v1" to a base URL without a path, so operators
// may write either https://host or https://host/v1 (or a provider's own
// prefix such as https://api.groq.com/openai/v1).
func baseWithVersion(base, version string) string {
	base = strings.TrimRight(base, "/")
	if u, err := url.Parse(base); err == nil && (u.Path == "" || u.Path == "/") {
		return base + "/" + version
	}
	return base
}

// URL returns the upstream URL of c.
func URL(c *Call) (string, error) {
	ch := c.Channel
	base := ch.BaseURL
	if base == "" {
		base = DefaultBaseURL(ch.Type)
	}
	if base == "" {
		return "", fmt.Errorf("channel %q has no base_url", ch.Name)
	}
	q := url.Values{}
	for k, v := range c.ClientQuery {
		if ForwardQuery(ch, k) {
			q[k] = v
		}
	}
	var u string
	switch ch.Type {
	case gateway.ChannelAzure:
		ver := ch.Settings["api_version"]
		if ver == "" {
			ver = AzureAPIVersion
		}
		if c.Op == OpResponses || c.Op == OpResponsesInputTokens || c.Op == OpResponsesCompact {
			if ver = ch.Settings[SettingResponsesAPIVersion]; ver == "" {
				ver = AzureResponsesAPIVersion
			}
		}
		q.Set("api-version", ver)
		b := strings.TrimRight(base, "/")
		switch c.Op {
		case OpModels:
			u = b + "/openai/models"
		case OpEmbeddings:
			u = b + "/openai/deployments/" + url.PathEscape(c.Model) + "/embeddings"
		case OpResponses, OpResponsesInputTokens, OpResponsesCompact:
			u = b + "/openai/" + string(c.Op) // the deployment is the body's model
		default:
			path := "/chat/completions"
			if mediaOp(c.Op) {
				path = "/" + string(c.Op)
			}
			u = b + "/openai/deployments/" + url.PathEscape(c.Model) + path
		}
	case gateway.ChannelAnthropic:
		b := baseWithVersion(base, "v1")
		switch c.Op {
		case OpCountToken:
			u = b + "/messages/count_tokens"
		case OpModels:
			u = b + "/models"
		default:
			u = b + "/messages"
		}
	case gateway.ChannelGemini:
		b := baseWithVersion(base, "v1beta")
		switch c.Op {
		case OpCountToken:
			u = b + "/models/" + url.PathEscape(c.Model) + ":countTokens"
		case OpModels:
			u = b + "/models"
		case OpEmbeddings:
			u = b + "/models/" + url.PathEscape(c.Model) + ":batchEmbedContents"
		case OpEmbedContent:
			u = b + "/models/" + url.PathEscape(c.Model) + ":embedContent"
		default:
			if c.Stream {
				u = b + "/models/" + url.PathEscape(c.Model) + ":streamGenerateContent"
				q.Set("alt", "sse")
			} else {
				u = b + "/models/" + url.PathEscape(c.Model) + ":generateContent"
			}
		}
	default: // openai, openai-compatible, simulator
		b := baseWithVersion(base, "v1")
		switch c.Op {
		case OpModels:
			u = b + "/models"
		case OpEmbeddings:
			u = b + "/embeddings"
		case OpResponses, OpResponsesInputTokens, OpResponsesCompact:
			u = b + "/" + string(c.Op)
		default:
			if mediaOp(c.Op) {
				u = b + "/" + string(c.Op)
			} else {
				u = b + "/chat/completions"
			}
		}
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u, nil
}

// dropped are never forwarded: hop-by-hop headers, the client's own
// credentials and cookies, and headers the transport must own.
var dropped = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true,
	"Authorization": true, "X-Api-Key": true, "X-Goog-Api-Key": true,
	"Api-Key": true, "Mj-Api-Secret": true, "Cookie": true, "Host": true,
	"Content-Length": true, "Accept-Encoding": true, "X-Request-Id": true,
	"X-Forwarded-For": true, "X-Real-Ip": true, "Forwarded": true,
}

// NewRequest builds the HTTP request for c.
func NewRequest(ctx context.Context, c *Call) (*http.Request, error) {
	u, err := URL(c)
	if err != nil {
		return nil, err
	}
	hasBody := c.Op != OpModels
	method := http.MethodPost
	if !hasBody {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build upstream request for channel %q: %w", c.Channel.Name, err)
	}
	if hasBody {
		setBody(req, c.Body)
	}
	h := req.Header
	for k, vs := range c.ClientHeader {
		if ForwardHeader(c.Channel, k) {
			h[k] = vs
		}
	}
	if hasBody {
		ct := c.Body.ContentType
		if ct == "" {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
	}
	switch c.Channel.Type {
	case gateway.ChannelAzure:
		h.Set("Api-Key", c.APIKey)
	case gateway.ChannelAnthropic:
		h.Set("X-Api-Key", c.APIKey)
		if h.Get("Anthropic-Version") == "" {
			h.Set("Anthropic-Version", AnthropicVersion)
		}
	case gateway.ChannelGemini:
		h.Set("X-Goog-Api-Key", c.APIKey)
	default:
		if c.APIKey != "" {
			h.Set("Authorization", "Bearer "+c.APIKey)
		}
	}
	if c.Stream {
		h.Set("Accept", "text/event-stream")
	}
	for k, v := range c.Channel.Headers {
		h.Set(k, v)
	}
	return req, nil
}

// setBody attaches b with its length and a GetBody, so the transport can
// replay it on a connection that died before the request was written.
func setBody(req *http.Request, b Body) {
	if b.Open == nil {
		data := b.Bytes
		req.ContentLength = int64(len(data))
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		if len(data) == 0 {
			req.Body = http.NoBody
		}
		return
	}
	req.ContentLength = b.Length
	req.Body = b.Open()
	req.GetBody = func() (io.ReadCloser, error) { return b.Open(), nil }
}

// Retryable reports whether an upstream status may be retried on another
// channel: rate limits, timeouts and server errors, never caller mistakes.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}
