package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// The generateContent family: POST /v1beta/models/{model}:generateContent
// and :streamGenerateContent (?alt=sse, or by default one JSON array
// streamed element by element).
var (
	Generate       endpoint.Spec = generateSpec{method: "generateContent"}
	StreamGenerate endpoint.Spec = generateSpec{method: "streamGenerateContent", stream: true}
	// CountTokens is :countTokens, relayed to Gemini channels and estimated
	// by the gateway for models no Gemini channel serves.
	CountTokens endpoint.Spec = countTokensSpec{}
)

var (
	_ endpoint.Streamer      = generateSpec{}
	_ endpoint.ChatCodec     = generateSpec{}
	_ endpoint.MediaInliner  = generateSpec{}
	_ endpoint.Passer        = countTokensSpec{}
	_ endpoint.LocalAnswerer = countTokensSpec{}
	_ endpoint.Free          = countTokensSpec{}
)

// SourceFormat names this format in hub requests and their Extra.
const SourceFormat = "gemini"

// optSSE: a streaming client asked for alt=sse framing; optImages: the
// call asks for image output (responseModalities has IMAGE).
const (
	optSSE uint64 = 1 << iota
	optImages
)

// Specs maps the method after a model's colon to its spec, for the
// router of /v1beta/models/{model}:{method}.
var Specs = map[string]endpoint.Spec{
	"generateContent":       Generate,
	"streamGenerateContent": StreamGenerate,
	"countTokens":           CountTokens,
	"embedContent":          EmbedContent,
	"batchEmbedContents":    BatchEmbed,
}

// SplitTarget splits "{model}:{method}", the last path segment of a model
// action, on its last colon (Go's mux cannot match "{model}:method").
func SplitTarget(target string) (model, method string, ok bool) {
	i := strings.LastIndexByte(target, ':')
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimPrefix(target[:i], "models/"), target[i+1:], true
}

// wire is what every Gemini-format spec shares.
type wire struct{}

func (wire) Family() string { return upstream.FormatGemini }

// ClientKey reads the key as Google's clients send it: x-goog-api-key or
// ?key=, or a Bearer token.
func (wire) ClientKey(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (wire) WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	WriteError(w, e, requestID)
}

func (wire) UpstreamError(status int, body []byte) *gateway.Error {
	return ParseUpstreamError(status, body)
}

// pathModel is the model of a model action's path.
func pathModel(r *http.Request) (string, error) {
	model, _, ok := SplitTarget(r.PathValue("target"))
	if !ok || model == "" {
		return "", gateway.Errorf(gateway.KindNotFound, "unknown method for %q: want models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents", r.PathValue("target"))
	}
	return model, nil
}

// passBody forwards a body as sent: the model is in the path, which the
// upstream's URL names.
func passBody(body payload.Body) upstream.Body { return upstream.JSON(body.JSON) }

type generateSpec struct {
	wire
	method string
	stream bool
}

func (s generateSpec) Endpoint() string { return s.method }
func (generateSpec) Op() upstream.Op    { return upstream.OpChat }

func (s generateSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	model, err := pathModel(r)
	if err != nil {
		return p, err
	}
	if body.JSON == nil {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "Invalid JSON payload received.")
	}
	var contents, config gjson.Result
	endpoint.ParseJSON(body.JSON).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "contents":
			contents = v
		case "generationConfig", "generation_config":
			config = v
		}
		return true
	})
	if !contents.IsArray() || !contents.Get("0").Exists() {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "contents is not specified").WithParam("contents")
	}
	p.Model, p.Stream = model, s.stream
	p.MaxOutput = config.Get("maxOutputTokens").Int()
	if p.MaxOutput == 0 {
		p.MaxOutput = config.Get("max_output_tokens").Int()
	}
	p.N = int(config.Get("candidateCount").Int())
	if s.stream && r.URL.Query().Get("alt") == "sse" {
		p.Opts |= optSSE
	}
	mods := config.Get("responseModalities")
	if !mods.Exists() {
		mods = config.Get("response_modalities")
	}
	mods.ForEach(func(_, m gjson.Result) bool {
		if strings.EqualFold(m.Str, "IMAGE") {
			p.Opts |= optImages
		}
		return true
	})
	return p, nil
}

func (generateSpec) PassRequest(_ endpoint.Peek, body payload.Body, _ string) (upstream.Body, error) {
	return passBody(body), nil
}

func (generateSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

func (generateSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	gjson.GetBytes(body, "candidates.#.content.parts.#.text").ForEach(func(_, texts gjson.Result) bool {
		texts.ForEach(func(_, t gjson.Result) bool {
			c.WriteString(t.Str)
			return true
		})
		return true
	})
}

var errorKey = []byte(`"error"`)

// EventError reads a chunk that is an error object.
func (generateSpec) EventError(ev sse.Event) *gateway.Error {
	if !bytes.Contains(ev.Data, errorKey) || !gjson.GetBytes(ev.Data, "error").IsObject() {
		return nil
	}
	status := int(gjson.GetBytes(ev.Data, "error.code").Int())
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	e := ParseUpstreamError(status, ev.Data)
	e.Kind = gateway.KindUpstream
	return e
}

// EventUsage reads usageMetadata: Gemini reports it cumulatively, so every
// chunk's count is final for what was generated so far.
func (generateSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	u, ok := ParseUsage(ev.Data)
	return u, true, ok
}

func (generateSpec) EventText(ev sse.Event, c endpoint.TextCounter) bool {
	content := false
	gjson.GetBytes(ev.Data, "candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
		if t := p.Get("text"); t.Str != "" {
			c.WriteString(t.Str)
		}
		if fc := p.Get("functionCall"); fc.Exists() {
			c.WriteString(fc.Raw)
		}
		content = true
		return true
	})
	return content
}

// Gemini streams end at EOF; a cut stream is seen by finishReason
// missing, which the pass-through path does not track.
func (generateSpec) Terminal(sse.Event) bool { return false }
func (generateSpec) NeedsTerminal() bool     { return false }

func (generateSpec) NewStreamWriter(w http.ResponseWriter, p endpoint.Peek) endpoint.StreamWriter {
	return &streamWriter{sw: sse.NewWriter(w), sse: p.Opts&optSSE != 0}
}

// streamWriter relays a Gemini stream, which the gateway always reads as
// SSE, in the framing the client asked for: SSE verbatim, or the default
// JSON array, one element per upstream chunk.
type streamWriter struct {
	sw    *sse.Writer
	sse   bool
	wrote bool // array mode: the opening '[' is out
}

func (s *streamWriter) ContentType() string {
	if s.sse {
		return "text/event-stream"
	}
	return "application/json"
}

func (s *streamWriter) Event(ev sse.Event, flush bool) error {
	if s.sse {
		if flush {
			return s.sw.WriteRaw(ev.Raw)
		}
		return s.sw.WriteRawNoFlush(ev.Raw)
	}
	if ev.Data == nil {
		return nil // keep-alive comments have no place in a JSON array
	}
	return s.element(ev.Data)
}

func (s *streamWriter) element(data []byte) error {
	prefix := ",\r\n"
	if !s.wrote {
		prefix = "["
		s.wrote = true
	}
	buf := make([]byte, 0, len(prefix)+len(data))
	buf = append(append(buf, prefix...), data...)
	return s.sw.WriteRaw(buf)
}

func (s *streamWriter) End(*sse.Event) error {
	if s.sse {
		return s.sw.Flush()
	}
	if !s.wrote {
		return s.sw.WriteRaw([]byte("[]"))
	}
	return s.sw.WriteRaw([]byte("]"))
}

func (s *streamWriter) Error(e *gateway.Error, requestID string) error {
	if s.sse {
		return s.sw.WriteData(ErrorBody(e, requestID))
	}
	if err := s.element(ErrorBody(e, requestID)); err != nil {
		return err
	}
	return s.sw.WriteRaw([]byte("]"))
}

func (generateSpec) DecodeChat(p endpoint.Peek, body payload.Body) (*llm.Request, error) {
	return DecodeRequest(p.Model, body.JSON)
}

func (generateSpec) EncodeChat(resp *llm.Response, _ endpoint.Peek) ([]byte, error) {
	return EncodeResponse(resp)
}

func (generateSpec) NewChatEncoder(p endpoint.Peek, o endpoint.EncoderOptions) endpoint.ChatEncoder {
	return NewStreamEncoder(StreamOptions{Model: p.Model, ResponseID: o.ID, SSE: p.Opts&optSSE != 0})
}

func (generateSpec) EncodeChatRequest(req *llm.Request) ([]byte, any, error) {
	b, err := EncodeRequest(req)
	return b, nil, err
}

func (generateSpec) DecodeChatResponse(body []byte, _ any) (*llm.Response, error) {
	return DecodeResponse(body)
}

func (generateSpec) NewChatDecoder(any) endpoint.ChatDecoder { return NewStreamDecoder() }

// NeedsInlineMedia: Gemini takes media inline only (no image URLs).
func (generateSpec) NeedsInlineMedia(req *llm.Request) bool { return NeedsFetch(req) }

// ContentType is the Content-Type of the streams the encoder writes.
func (e *StreamEncoder) ContentType() string {
	if e.opts.SSE {
		return "text/event-stream"
	}
	return "application/json"
}

type countTokensSpec struct{ wire }

func (countTokensSpec) Endpoint() string { return "countTokens" }
func (countTokensSpec) Op() upstream.Op  { return upstream.OpCountToken }
func (countTokensSpec) Free()            {}

func (countTokensSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	model, err := pathModel(r)
	if err != nil {
		return endpoint.Peek{}, err
	}
	if body.JSON == nil {
		return endpoint.Peek{}, gateway.Errorf(gateway.KindInvalidRequest, "Invalid JSON payload received.")
	}
	return endpoint.Peek{Model: model}, nil
}

func (countTokensSpec) PassRequest(_ endpoint.Peek, body payload.Body, _ string) (upstream.Body, error) {
	return passBody(body), nil
}

func (countTokensSpec) ParseUsage([]byte) (llm.Usage, bool)      { return llm.Usage{}, false }
func (countTokensSpec) CountAnswer([]byte, endpoint.TextCounter) {}

// AnswerLocally estimates with the embedded tokenizer. countTokens wraps
// either a bare {contents} or a full {generateContentRequest}.
func (countTokensSpec) AnswerLocally(p endpoint.Peek, body payload.Body) ([]byte, error) {
	inner := body.JSON
	if g := gjson.GetBytes(inner, "generateContentRequest"); g.IsObject() {
		inner = []byte(g.Raw)
	}
	req, err := DecodeRequest(p.Model, inner)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]int64{"totalTokens": tokencount.Request(req)})
}
