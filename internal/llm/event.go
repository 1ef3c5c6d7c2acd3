package llm

// EventType names a canonical stream event.
//
// A canonical stream is: one EventStart, then content events, then at most
// one EventUsage (possibly several, merged), then exactly one EventStop or
// EventError. Content events carry Index, the position of their content
// block within the choice: a new Index opens a new block (text, reasoning or
// tool call), and blocks never interleave except that tool-call argument
// deltas may address any already-opened tool-call block (OpenAI parallel
// calls stream that way). Encoders turn block boundaries into their own
// framing (Anthropic content_block_start/stop, OpenAI tool_calls[i]).
type EventType int

const (
	EventStart             EventType = iota + 1 // ID, Model, Issuer
	EventTextDelta                              // Index, Text
	EventReasoningDelta                         // Index, Text (and/or Signature when it arrives)
	EventRedactedReasoning                      // Index, Data: a whole opaque thinking block
	EventToolCallStart                          // Index, ToolCallID, ToolName
	EventToolCallDelta                          // Index, Text: a fragment of the arguments JSON
	EventMedia                                  // Index, Part: an inline image/audio output
	EventUsage                                  // Usage (cumulative so far)
	EventStop                                   // StopReason, StopSequence
	EventError                                  // Err
)

// Event is one canonical stream event.
type Event struct {
	Type   EventType
	Choice int // candidate index for n>1; 0 otherwise
	Index  int // content block index within the choice

	ID    string
	Model string
	// Issuer (on EventStart) produced the stream and issued its tokens.
	Issuer Issuer

	Text       string
	Signature  string
	Data       string
	ToolCallID string
	ToolName   string
	Part       *Part

	Usage        *Usage
	StopReason   StopReason
	StopSequence string

	Err *StreamError
}

// StreamError is an error that ends a stream after it started. It is plain
// data so that llm imports nothing; relay fills it from gateway.Error.
type StreamError struct {
	Status  int    // HTTP status the error would have had
	Type    string // OpenAI-style error type, e.g. "upstream_error"
	Message string
}
