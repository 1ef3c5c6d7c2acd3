// Package gemini converts Google's Gemini generateContent wire format to
// and from the llm hub: requests (decoded from clients, encoded for Gemini
// upstreams), responses, streams in both of Gemini's stream shapes (alt=sse
// data lines, and the default JSON array streamed element by element), and
// errors in Google's {"error":{"code","message","status"}} shape.
//
// Deviations from the common codec contract of internal/format:
//   - DecodeRequest takes the model as an argument: Gemini names it in the
//     URL (/v1beta/models/{model}:generateContent), not in the body, and
//     EncodeRequest returns only the body for the same reason. Streaming is
//     likewise chosen by the URL method, not by a body field.
//   - The decoder accepts every field in both spellings Google's servers
//     accept: REST camelCase and proto snake_case (inline_data, mime_type,
//     function_call, generation_config, system_instruction ...). Keys of
//     user data (function args and responses, schemas, labels) are kept.
//   - Gemini function calls usually have no id. Decoders mint
//     "call_<name>_<n>" and match functionResponse parts back by name and
//     order; EncodeRequest sends no ids upstream and orders function
//     responses like the calls they answer.
//   - Upstream streams are always requested with alt=sse, so StreamDecoder
//     reads SSE only; StreamEncoder writes either shape for clients.
//
// The capability table at the top of request_encode.go lists every
// mapping, emulation and rejection towards a Gemini upstream. Everything
// here is pure: no I/O, clock or logging.
package gemini
