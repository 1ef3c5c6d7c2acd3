// Package llm is the canonical hub for chat-like calls. Every chat format
// (OpenAI Chat, OpenAI Responses, Anthropic Messages, Gemini generateContent)
// converts to and from these types; there are no pairwise converters.
//
// The hub is a superset of the formats, not any one format's struct with
// fields dropped: a feature one format has and another lacks is still
// represented here, and each encoder decides whether to map, emulate or
// reject it (see docs/compatibility.md). This package imports nothing of ours.
package llm

import "encoding/json"

// Role is the author of a message. System prompts are not messages: they
// live in Request.System because two of the three families keep them apart.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool carries tool results. Anthropic and Gemini put tool results in
	// user turns; their decoders still emit RoleTool so encoders can regroup.
	RoleTool Role = "tool"
)

// Request is one chat call in canonical form.
type Request struct {
	Model    string
	System   []Part // text parts; CacheControl survives for Anthropic
	Messages []Message

	MaxTokens   *int // nil: the caller did not say; encoders supply defaults where required
	Temperature *float64
	TopP        *float64
	TopK        *int
	Stop        []string
	N           int // 0 or 1: one choice
	Seed        *int64

	PresencePenalty  *float64
	FrequencyPenalty *float64

	Stream            bool
	Tools             []Tool
	ToolChoice        *ToolChoice
	ParallelToolCalls *bool
	ResponseFormat    *ResponseFormat
	Reasoning         *Reasoning

	// Modalities and Audio request non-text outputs (OpenAI audio replies,
	// Gemini responseModalities).
	Modalities []string
	Audio      json.RawMessage

	User     string
	Metadata map[string]string

	// Extra keeps fields of the source format this hub has no slot for, as
	// raw JSON keyed by their top-level name. Encoders of the same format
	// re-emit them; other encoders ignore them (documented as not carried).
	Extra map[string]json.RawMessage
	// SourceFormat names the format Extra came from ("openai", "anthropic", "gemini").
	SourceFormat string

	// Target is the provider and channel the request is being encoded for;
	// the relay sets it before each attempt. Encoders send opaque tokens
	// only to their issuer (see TokenAllowed). Zero: the encoder's own
	// provider, channel unknown.
	Target Issuer
}

// Message is one turn.
type Message struct {
	Role  Role
	Name  string
	Parts []Part
}

// PartType says what a Part holds.
type PartType string

const (
	PartText       PartType = "text"
	PartImage      PartType = "image"
	PartAudio      PartType = "audio"
	PartFile       PartType = "file"
	PartToolCall   PartType = "tool_call"
	PartToolResult PartType = "tool_result"
	// PartReasoning is visible thinking text with an optional signature that
	// must round-trip intact (Anthropic thinking, Gemini thoughtSignature).
	PartReasoning PartType = "reasoning"
	// PartRedactedReasoning is opaque encrypted thinking (Anthropic
	// redacted_thinking, OpenAI encrypted_content); Data holds it verbatim.
	PartRedactedReasoning PartType = "redacted_reasoning"
)

// Part is one piece of message content.
type Part struct {
	Type PartType
	Text string

	// Media (image, audio, file): either URL or base64 Data with MediaType.
	MediaType string
	Data      string // base64, never decoded on the way through
	URL       string
	FileName  string
	Detail    string // OpenAI image detail: low | high | auto

	// Tool call: Arguments is a JSON object's text (may be "{}").
	ToolCallID string
	ToolName   string
	Arguments  json.RawMessage

	// Tool result: Content holds text and image parts; IsError marks failures.
	Content []Part
	IsError bool

	// Reasoning: the signature that proves the thinking to its provider.
	// Gemini also signs text and tool-call parts; OpenAI audio parts keep
	// their audio id here.
	Signature string
	// Issuer is who minted Signature (or Data of redacted reasoning);
	// zero on an answer's parts means the Response's Issuer.
	Issuer Issuer

	CacheControl *CacheControl
}

// CacheControl is an Anthropic prompt-cache breakpoint.
type CacheControl struct {
	Type string // "ephemeral"
	TTL  string // "5m" | "1h" | ""
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is a JSON Schema object as text. Encoders clean it for
	// targets that reject JSON-Schema-only keywords.
	Parameters   json.RawMessage
	Strict       *bool
	CacheControl *CacheControl
	// Raw, when set, is a provider built-in tool (web search, MCP, ...) kept
	// verbatim from SourceFormat; other formats reject it.
	Raw json.RawMessage
}

// ToolChoiceMode is how the model must use tools.
type ToolChoiceMode string

const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // Anthropic "any", Gemini ANY
	ToolChoiceTool     ToolChoiceMode = "tool"     // one named tool
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // for ToolChoiceTool
	// DisableParallel maps Anthropic disable_parallel_tool_use.
	DisableParallel bool
}

// ResponseFormatType is the structured-output mode.
type ResponseFormatType string

const (
	FormatText       ResponseFormatType = "text"
	FormatJSONObject ResponseFormatType = "json_object"
	FormatJSONSchema ResponseFormatType = "json_schema"
)

// ResponseFormat asks for structured output.
type ResponseFormat struct {
	Type        ResponseFormatType
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      *bool
}

// Reasoning configures extended thinking.
type Reasoning struct {
	Enabled bool
	// Effort is OpenAI-style: minimal | low | medium | high.
	Effort string
	// BudgetTokens is Anthropic/Gemini-style; 0 means let the encoder derive it.
	BudgetTokens int
	// IncludeThoughts asks Gemini for thought summaries.
	IncludeThoughts bool
	// HideThoughts: the client said it does not want thought summaries
	// (include_thoughts: false), which encoders honour over their default.
	HideThoughts bool
}

// StopReason is why generation ended, in canonical form.
type StopReason string

const (
	StopEnd           StopReason = "end"            // natural end of turn
	StopMaxTokens     StopReason = "max_tokens"     // length limit
	StopSequence      StopReason = "stop_sequence"  // a stop sequence matched
	StopToolUse       StopReason = "tool_use"       // the model called tools
	StopContentFilter StopReason = "content_filter" // safety / recitation
	StopRefusal       StopReason = "refusal"
	StopPauseTurn     StopReason = "pause_turn"
	StopError         StopReason = "error"
)

// Response is a complete (non-streaming) answer.
type Response struct {
	ID      string
	Model   string
	Created int64 // Unix seconds; the relay sets the time it answered
	Choices []Choice
	Usage   Usage
	// Issuer is the provider and channel that produced the answer, and so
	// issued its opaque tokens; the relay sets it.
	Issuer Issuer
}

// Choice is one candidate answer; most calls have exactly one.
type Choice struct {
	Index        int
	Parts        []Part
	StopReason   StopReason
	StopSequence string
}
