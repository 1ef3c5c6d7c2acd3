// Package anthropic converts the Anthropic Messages API (POST /v1/messages)
// to and from the canonical llm hub: requests both ways (clients that speak
// Anthropic, and Anthropic upstreams serving clients of other formats),
// complete responses both ways, streams event by event, and Anthropic's
// error shape.
//
// Everything here is pure: bytes in, values out, no I/O, clock or logging.
// Decoding uses gjson (no reflection); encoding appends JSON by hand so the
// field order is stable for golden tests and the stream hot path allocates
// little.
//
// What cannot be carried to an Anthropic upstream is either emulated or
// rejected with a KindInvalidRequest error; the full table is at the top of
// request_encode.go. Structured output is emulated with a forced tool: the
// relay keeps the Emulation value EncodeRequestOpts returns and hands it to
// DecodeResponseWith / NewStreamDecoderWith, which turn the tool's input
// back into answer text.
//
// Streams follow Anthropic's strict grammar: message_start, then for each
// content block content_block_start, deltas, content_block_stop, then
// message_delta and message_stop; every frame carries `event: <type>` equal
// to its data's type, and there is no [DONE]. Errors after the stream began
// end it with an `event: error` frame.
package anthropic
