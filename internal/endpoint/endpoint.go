// Package endpoint is the contract between the relay engine and the wire
// formats: what a spec — one API endpoint in one format, such as OpenAI
// chat completions or Gemini batchEmbedContents — must tell the engine, and
// the codecs through which two specs of the same hub translate.
//
// Format packages (internal/format/*) publish values satisfying these
// interfaces; internal/relay consumes them and knows no format by name.
// The interfaces live here rather than in relay because Go has no
// covariant method results: a spec method that returns a stream writer or
// a codec must name its interface type, and naming relay's would make every
// format package import the engine.
package endpoint

import (
	"net/http"
	"unsafe"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// Peek is what the engine needs of a call before routing it, read by the
// spec from the request without decoding the rest of the body.
type Peek struct {
	Model  string // as the client named it
	Stream bool
	// MaxOutput is the caller's output limit in tokens; 0 means unset.
	MaxOutput int64
	// N is how many choices (or images, or embedding inputs) the call asks
	// for; 0 means one.
	N int
	// Affinity, when set, is a conversation id (a prompt cache key, a
	// session id): the call's channel and upstream key are chosen by it,
	// so a conversation stays on one account while it is healthy.
	Affinity string
	// Opts are the spec's own per-call flags (an OpenAI client asking for
	// stream usage, a Gemini client streaming with alt=sse, ...). The
	// engine carries them from the spec's Peek back to the same spec's
	// writers and encoders and never reads them.
	Opts uint64
}

// Choices is N with its default applied.
func (p Peek) Choices() int {
	if p.N < 1 {
		return 1
	}
	return p.N
}

// Spec is one endpoint in one wire format. Every spec serves clients;
// what else it can do is said by the optional interfaces below: pass its
// calls through to channels of its own format (Passer, Streamer), and
// translate through a hub (ChatCodec, EmbedCodec).
type Spec interface {
	// Endpoint labels the spec's calls in the ledger, logs and metrics
	// ("chat.completions", "messages", "embeddings", ...).
	Endpoint() string
	// Family is the channel format that speaks this spec natively, as
	// upstream.FormatOf names it; its errors are in that format's shape.
	Family() string
	// Op is the upstream operation the spec's calls address.
	Op() upstream.Op

	// ClientKey reads the caller's key where the format's SDKs send it.
	ClientKey(r *http.Request) string
	// Peek reads and checks what routing needs. An error is the caller's
	// mistake, as a *gateway.Error rendered by WriteError.
	Peek(r *http.Request, body payload.Body) (Peek, error)
	// WriteError writes e in the format's error shape, with its status.
	WriteError(w http.ResponseWriter, e *gateway.Error, requestID string)

	// UpstreamError reads an upstream's non-2xx answer in this format.
	UpstreamError(status int, body []byte) *gateway.Error
}

// ChannelFilter narrows which channels of a spec's family serve it
// natively (an OpenAI-compatible server that speaks chat but not the
// Responses API). Without it, every channel of the family does.
type ChannelFilter interface {
	ServedBy(ch *gateway.Channel) bool
}

// TextCounter receives generated text to count tokens of when an
// upstream reports no usage (tokencount.Stream).
type TextCounter interface {
	WriteString(s string)
}

// Passer is a spec that relays its own calls to channels of its family
// untouched but for the model name and what metering needs.
type Passer interface {
	// PassRequest is the upstream body for upstreamModel.
	PassRequest(p Peek, body payload.Body, upstreamModel string) (upstream.Body, error)
	// ParseUsage reads the usage of a complete JSON answer.
	ParseUsage(body []byte) (llm.Usage, bool)
	// CountAnswer feeds a complete answer's generated text to c, for when
	// the upstream reports no usage.
	CountAnswer(body []byte, c TextCounter)
}

// TokenStripper is a Passer whose PassRequest drops the gateway's token
// envelopes (llm.WrapToken) from a body itself, so a body holding them may
// still pass through (without it such a body is translated, which drops
// them).
type TokenStripper interface {
	StripsWrappedTokens()
}

// FailoverStripper is a Passer whose bodies may hold tokens only the
// account that issued them can verify (OpenAI's encrypted reasoning): on
// an attempt after the first — another channel — the engine passes the
// body through StripForFailover first.
type FailoverStripper interface {
	StripForFailover(body []byte) ([]byte, error)
}

// HeaderRelayer is a Passer whose clients need some of the upstream's
// response headers (Codex's turn state); the engine copies them on the
// pass-through path. All others describe the gateway's account and stay.
type HeaderRelayer interface {
	RelayHeaders() []string
}

// RawAnswerer is a Passer whose answers may be other than JSON: audio
// bytes, a transcript as plain text or subtitles. The engine copies such
// an answer to the client as it arrives instead of reading it whole.
type RawAnswerer interface {
	// RawAnswer reports whether an answer of this Content-Type is relayed
	// as bytes. Anything else must be JSON.
	RawAnswer(contentType string) bool
}

// Streamer is a Passer whose calls may stream as server-sent events.
type Streamer interface {
	// EventError reports an upstream event that is an error, or nil.
	EventError(ev sse.Event) *gateway.Error
	// EventUsage reads the usage an event carries. final is false for
	// counts an upstream sends before the answer is done (Anthropic's
	// message_start carries a placeholder output count), so a stream cut
	// before its final usage is billed by what was counted instead.
	EventUsage(ev sse.Event) (u llm.Usage, final, ok bool)
	// EventText feeds an event's generated text to c and reports whether
	// the event carried generated content (for time to first token).
	EventText(ev sse.Event, c TextCounter) bool
	// Terminal reports the event that ends a stream. The ledger is
	// written before it is forwarded.
	Terminal(ev sse.Event) bool
	// NeedsTerminal reports whether a stream without a terminal event was
	// cut short (some formats simply end at EOF).
	NeedsTerminal() bool
	// NewStreamWriter frames the upstream's events for the client.
	NewStreamWriter(w http.ResponseWriter, p Peek) StreamWriter
}

// StreamWriter relays one pass-through stream to its client.
type StreamWriter interface {
	// ContentType is the stream's Content-Type for the client.
	ContentType() string
	// Event forwards one upstream event; flush false lets a burst of
	// events that arrived together share one flush. A writer may drop
	// events its client did not ask for.
	Event(ev sse.Event, flush bool) error
	// End finishes the stream: terminal is the upstream's terminal event,
	// or nil when the stream ended at EOF.
	End(terminal *sse.Event) error
	// Error ends the stream with an error in the format's stream shape.
	Error(e *gateway.Error, requestID string) error
}

// ChatCodec translates a chat-like spec to and from the llm hub, in both
// roles: as the client's side and as the upstream's.
type ChatCodec interface {
	// Client side.
	DecodeChat(p Peek, body payload.Body) (*llm.Request, error)
	EncodeChat(resp *llm.Response, p Peek) ([]byte, error)
	NewChatEncoder(p Peek, opts EncoderOptions) ChatEncoder
	// Upstream side. emu carries what an encoder emulated (a forced tool
	// for structured output) to the decoders of the answer.
	EncodeChatRequest(req *llm.Request) (body []byte, emu any, err error)
	DecodeChatResponse(body []byte, emu any) (*llm.Response, error)
	NewChatDecoder(emu any) ChatDecoder
}

// MediaInliner is a chat spec whose upstreams take media only inline
// (Gemini): the engine fetches URL parts, through the SSRF guard, before
// encoding a request for it when NeedsInlineMedia says so.
type MediaInliner interface {
	NeedsInlineMedia(req *llm.Request) bool
}

// EncoderOptions are what the engine knows of a translated stream before
// its first event.
type EncoderOptions struct {
	// ID is the stream's id when the upstream gives none (the request id).
	ID string
	// Created is when the gateway started the answer (Unix seconds).
	Created int64
	// EstimateInput counts the prompt's tokens, for formats that show the
	// input count before the upstream reports it (Anthropic's
	// message_start); it is only called when needed.
	EstimateInput func() int64
	// Request is the client's request as decoded by the spec's DecodeChat
	// (a Responses object echoes its settings); nil for Go callers.
	Request *llm.Request
}

// AnswerEncoder is a ChatCodec whose complete answers need what its
// stream encoder is given (the call's id, the decoded request); the
// engine prefers it to EncodeChat.
type AnswerEncoder interface {
	EncodeChatAnswer(resp *llm.Response, p Peek, o EncoderOptions) ([]byte, error)
}

// ChatEncoder writes hub events as a client stream.
type ChatEncoder interface {
	ContentType() string
	Encode(w *sse.Writer, ev llm.Event) error
	Close(w *sse.Writer) error
}

// ChatDecoder reads an upstream stream as hub events.
type ChatDecoder interface {
	Decode(ev sse.Event) ([]llm.Event, error)
	Finish() ([]llm.Event, error)
}

// EmbedCodec translates an embeddings spec to and from the hub.
type EmbedCodec interface {
	// Client side.
	DecodeEmbed(p Peek, body payload.Body) (*llm.EmbedRequest, error)
	EncodeEmbed(resp *llm.EmbedResponse, req *llm.EmbedRequest) ([]byte, error)
	// Upstream side.
	EncodeEmbedRequest(req *llm.EmbedRequest) ([]byte, error)
	DecodeEmbedResponse(body []byte, req *llm.EmbedRequest) (*llm.EmbedResponse, error)
}

// ImageClient is an image spec whose calls may be translated through the
// image hub, as the client's side.
type ImageClient interface {
	// ImageCall reports whether the call asks for images (a chat-like
	// spec's call may ask for text instead).
	ImageCall(p Peek) bool
	DecodeImage(p Peek, body payload.Body) (*llm.ImageRequest, error)
	EncodeImage(resp *llm.ImageResponse, req *llm.ImageRequest) ([]byte, error)
	// ImageStreamType is the Content-Type of the stream EncodeImageEvents
	// writes for the call.
	ImageStreamType(p Peek) string
	// EncodeImageEvents writes the answer of a client that asked for a
	// stream, as the events of its format.
	EncodeImageEvents(w *sse.Writer, p Peek, resp *llm.ImageResponse, req *llm.ImageRequest) error
}

// ImageUpstream is a spec that can carry an image call of the hub to its
// channels (the upstream's side).
type ImageUpstream interface {
	EncodeImageRequest(req *llm.ImageRequest) ([]byte, error)
	DecodeImageResponse(body []byte) (*llm.ImageResponse, error)
}

// ImageRouter is an ImageUpstream that carries only some image calls:
// OpenAI's generations take no input images and its edits only calls
// with them. An ImageUpstream that is not one carries every call.
type ImageRouter interface {
	CarriesImage(req *llm.ImageRequest) bool
}

// ImageBodyEncoder is an ImageUpstream whose request bodies are not JSON
// (OpenAI's multipart edits); the engine prefers it to
// EncodeImageRequest.
type ImageBodyEncoder interface {
	EncodeImageBody(req *llm.ImageRequest) (upstream.Body, error)
}

// MediaLinker is a spec whose answers may link media at the upstream's
// hosts (OpenAI's image URLs), which the gateway can re-serve itself when
// its operator says so: Relink replaces each link the answer holds by what
// relink returns for it (the link unchanged when relink fails).
type MediaLinker interface {
	Relink(answer []byte, relink func(url string) (string, bool)) []byte
}

// Meter is a spec whose calls are priced by units as well as tokens
// (images, seconds, characters). It reads them from the call and its
// complete answer — or, for a raw (non-JSON) answer streamed through to
// the client, the answer's last KiB or two.
type Meter interface {
	Units(p Peek, body payload.Body, answer []byte) []gateway.Metered
}

// StreamMeter is a Meter whose streams are priced by units too: called
// once a stream ended, with whether the upstream reported its usage (an
// image model that bills tokens when it says so, per image otherwise).
type StreamMeter interface {
	StreamUnits(p Peek, body payload.Body, usageReported bool) []gateway.Metered
}

// Worst is the most a call can use, as its spec bounds it.
type Worst struct {
	// InputTokens and OutputTokens bound the call's tokens (output over
	// all its choices or images).
	InputTokens, OutputTokens int64
	// Units are the most of each unit; a unit named without its variants
	// ("image" rather than "image:1024x1024:hd") is held at its dearest.
	Units []gateway.Metered
}

// Holder is a spec that bounds its calls' worst case itself, for the
// budget hold: its bodies are uploads rather than prompt text, or it is
// priced in units the engine cannot see in the request.
type Holder interface {
	Worst(p Peek, body payload.Body) Worst
}

// BodyLimiter is a spec with a request size limit of its own (an upload
// route), in bytes; the route's configured limit, if any, replaces it.
type BodyLimiter interface {
	MaxBodyBytes() int64
}

// LocalAnswerer is a spec the gateway can answer itself when no channel
// serves it natively (a token count estimated with the embedded
// tokenizer instead of asking a provider that has no such endpoint).
type LocalAnswerer interface {
	AnswerLocally(p Peek, body payload.Body) ([]byte, error)
}

// Free marks a spec whose calls cost nothing upstream (token counting):
// no budget hold, no ledger row.
type Free interface {
	Free()
}

// ParseJSON parses a request body for peeking without copying it:
// gjson.ParseBytes copies the whole body into a string first, which for a
// 32 MiB prompt doubles what the call holds. The result aliases body, which
// must not change while it is in use (request bodies never do), and so do
// the strings it yields: a string kept beyond the call (a model name in a
// ledger record) must be cloned, or it keeps the whole body alive.
func ParseJSON(body []byte) gjson.Result {
	if len(body) == 0 {
		return gjson.Result{}
	}
	return gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
}

// Describer reads what a trace records of an answer: its id and finish
// reasons. The engine asks only when it traces.
type Describer interface {
	// DescribeAnswer reads a complete (non-streaming) answer.
	DescribeAnswer(body []byte) (id string, finishReasons []string)
	// DescribeEvent reads one stream event: an id and a finish reason,
	// either empty when the event carries none.
	DescribeEvent(ev sse.Event) (id, finishReason string)
}
