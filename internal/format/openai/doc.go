// Package openai is the OpenAI wire format: the request, response, stream
// and error shapes of the OpenAI HTTP API, and their conversion to and from
// the canonical hub in internal/llm. It covers Chat Completions today and is
// the home of the Responses, images, embeddings and audio wire types as they
// arrive.
//
// # Chat Completions codec
//
// DecodeRequest/EncodeRequest, DecodeResponse/EncodeResponse, StreamDecoder
// and StreamEncoder implement the codec contract shared by every chat-like
// format (see docs/compatibility.md). The codec is pure: no I/O, clock or
// logging. Decoding reads bodies with gjson (no reflection-driven decode on
// the hot path) and checks types itself, so a malformed field yields a 400
// naming the offending parameter (Param) rather than a generic unmarshal
// error. Stream chunks are written with hand-rolled JSON appends.
//
// Decisions worth knowing (each is also stated where it is implemented):
//
//   - system and developer messages both become Request.System, in order, and
//     are sent back as one leading "system" message; their position among the
//     other turns is not kept (OpenAI treats the two roles alike).
//   - Tool-call arguments are a JSON string on the wire. When the string holds
//     a JSON object, Part.Arguments is that object; when it holds anything else
//     (truncated model output, a bare number), Part.Arguments is a JSON string
//     value carrying the original text verbatim, and the encoder writes that
//     text back unchanged. An empty string becomes "{}".
//   - Reasoning text arrives as reasoning_content (DeepSeek) or reasoning
//     (OpenRouter) and becomes a reasoning Part; the encoder writes it back as
//     reasoning_content, which DeepSeek requires on tool-call turns. Signatures
//     and redacted reasoning cannot be carried by Chat Completions and are
//     dropped from assistant history.
//   - OpenAI assistant audio references (audio.id) have no dedicated hub slot:
//     the id travels in Part.Signature of an audio Part, the opaque provider
//     token slot, and the transcript in Part.Text.
//   - Vendor thinking extensions of chat UIs — extra_body.google.thinking_config
//     (or a flattened google) for Gemini models, thinking (also inside
//     extra_body) for Claude models — map to Request.Reasoning and stay in
//     Extra for OpenAI-format upstreams.
//   - A request's stream_options is kept in Extra; when streaming, the encoder
//     always asks the upstream for include_usage so every stream is metered.
//     IncludeUsage reports what the client itself asked for.
//
// The capability table for EncodeRequest is in chat_request_encode.go.
package openai
