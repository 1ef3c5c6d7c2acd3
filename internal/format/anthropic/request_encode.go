package anthropic

// Capability table: hub request → Anthropic Messages upstream.
// (docs/compatibility.md copies this table.)
//
//	hub feature                     | Anthropic upstream
//	--------------------------------|-------------------------------------------------------------
//	System parts                    | system text blocks; cache_control kept
//	consecutive same-role turns     | merged (Anthropic requires alternation); RoleTool → user turn
//	tool results + user text        | one user turn: tool_result blocks first, in order, then the rest
//	empty text parts                | dropped (Anthropic rejects empty text blocks); turns left
//	                                |   empty are dropped
//	image Data / URL / data: URL    | base64 source / url source / base64 source; Detail ignored
//	file application/pdf            | document block (base64 or url source); FileName → title
//	file text/plain                 | document block with a text source
//	other files, audio input        | rejected (400)
//	tool call Arguments             | tool_use input; invalid, empty or non-object JSON → {}
//	tool call ids                   | characters outside [A-Za-z0-9_-] replaced by '_' (both sides)
//	reasoning with signature        | thinking block, signature verbatim (assistant turns only),
//	                                |   only when Anthropic issued it for this channel
//	                                |   (llm.Request.TokenAllowed); another provider's signature
//	                                |   is dropped with its block
//	reasoning without signature     | dropped: Anthropic rejects unsigned thinking; from non-
//	                                |   Anthropic clients, a run of unsigned reasoning parts joins
//	                                |   the signed part that ends it (streamed thought pieces)
//	redacted reasoning              | redacted_thinking (assistant turns only), same rule
//	MaxTokens nil                   | max_tokens 4096 (thinking on: budget + 4096)
//	Reasoning.Enabled               | thinking {type: enabled, budget_tokens}: BudgetTokens, else
//	                                |   from Effort: minimal/low 1024, medium 8192, high 24576,
//	                                |   xhigh/max 32768, unset 8192; budgets below 1024 raised to 1024
//	max_tokens <= budget            | max_tokens raised to budget + max_tokens (the caller's
//	                                |   max_tokens stays the allowance for the visible answer)
//	thinking on                     | temperature, top_p, top_k dropped (Anthropic rejects them)
//	thinking on, last assistant     | thinking left out for that request (clients of other formats
//	  tool turn without a signature |   cannot carry signatures, and other providers' ones are
//	  valid here                    |   dropped; Anthropic would refuse the turn)
//	Temperature                     | clamped to [0, 1] (OpenAI allows up to 2)
//	Temperature and TopP together   | TopP dropped unless the source was Anthropic (newer Claude
//	                                |   models reject both)
//	TopK                            | top_k
//	Stop                            | stop_sequences; whitespace-only sequences dropped (rejected)
//	N > 1                           | rejected (400)
//	Seed, penalties, Metadata map   | not carried (no Anthropic equivalent)
//	audio Modalities                | rejected (400)
//	User                            | metadata.user_id
//	Tools                           | custom tools; empty Parameters → {"type":"object","properties":{}};
//	                                |   Strict only when the source was Anthropic
//	Tool.Raw (built-in tool)        | verbatim when the source was Anthropic, else rejected (400)
//	ToolChoice auto/required/none/tool | auto / any / none / tool+name; sent only with tools
//	ParallelToolCalls=false         | disable_parallel_tool_use: true
//	ResponseFormat json_schema      | emulated: forced tool (schema name or "json_response") whose
//	                                |   input becomes the answer text (see Emulation); with
//	                                |   thinking on, or EncodeOptions.NativeStructuredOutput,
//	                                |   native output_config.format instead (forced tool_choice
//	                                |   is not allowed with thinking)
//	ResponseFormat json_object      | emulated: forced tool with schema {"type":"object"}; with
//	                                |   thinking on, a system instruction to answer in JSON only
//	Extra                           | re-emitted only when SourceFormat is "anthropic"; Extra
//	                                |   thinking/output_config/output_format/metadata win
//	stream                          | "stream": true; never stream_options or other OpenAI fields

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// DefaultMaxTokens is sent when the request does not say: Anthropic
// requires max_tokens.
const DefaultMaxTokens = 4096

// Thinking budgets derived from an OpenAI-style effort.
const (
	budgetMin    = 1024 // Anthropic's minimum budget_tokens
	budgetLow    = 1024
	budgetMedium = 8192
	budgetHigh   = 24576
	budgetXHigh  = 32768
)

// DefaultJSONToolName names the forced tool of structured-output emulation
// when the response format has no usable name.
const DefaultJSONToolName = "json_response"

// EncodeOptions tunes EncodeRequestOpts.
type EncodeOptions struct {
	// NativeStructuredOutput sends json_schema response formats as
	// output_config.format (models with structured outputs) instead of
	// emulating them with a forced tool.
	NativeStructuredOutput bool
}

// Emulation records what EncodeRequestOpts emulated, for the response side.
// The relay keeps it for the call and passes it to DecodeResponseWith or
// NewStreamDecoderWith. The zero value means no emulation.
type Emulation struct {
	// JSONTool is the forced tool whose input is the structured answer:
	// its tool_use becomes answer text and a tool_use stop becomes end.
	JSONTool string
}

// EncodeRequest encodes req for an Anthropic upstream without emulation
// bookkeeping; use EncodeRequestOpts when req may carry a ResponseFormat.
func EncodeRequest(req *llm.Request) ([]byte, error) {
	b, _, err := EncodeRequestOpts(req, EncodeOptions{})
	return b, err
}

// EncodeRequestOpts encodes req for an Anthropic upstream and reports the
// emulation the response decoder must undo.
func EncodeRequestOpts(req *llm.Request, opts EncodeOptions) ([]byte, Emulation, error) {
	var emu Emulation
	if req.N > 1 {
		return nil, emu, invalid("n", "n>1 is not supported by Anthropic models")
	}
	if slices.Contains(req.Modalities, "audio") {
		return nil, emu, invalid("modalities", "audio output is not supported by Anthropic models")
	}
	fromAnthropic := req.SourceFormat == SourceFormat
	extra := func(key string) (json.RawMessage, bool) {
		if !fromAnthropic {
			return nil, false
		}
		v, ok := req.Extra[key]
		return v, ok
	}

	thinking := req.Reasoning != nil && req.Reasoning.Enabled
	rawThinking, haveRawThinking := extra("thinking")
	if thinking && unsignedToolTurn(req) {
		// Anthropic requires a tool-using assistant turn to start with its
		// signed thinking block while thinking is on. Clients of formats that
		// cannot carry the signature (OpenAI chat) lose it, and a signature
		// another provider or account issued is dropped, so such a
		// continuation is sent without thinking rather than refused.
		thinking, haveRawThinking = false, false
	}
	budget := 0
	if haveRawThinking {
		budget = int(gjson.GetBytes(rawThinking, "budget_tokens").Int())
	} else if thinking {
		budget = thinkingBudget(req.Reasoning)
	}

	maxTokens := DefaultMaxTokens
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		maxTokens = *req.MaxTokens
	}
	if budget > 0 && maxTokens <= budget {
		if req.MaxTokens != nil && *req.MaxTokens > 0 {
			maxTokens = budget + *req.MaxTokens
		} else {
			maxTokens = budget + DefaultMaxTokens
		}
	}

	b := make([]byte, 0, 1024)
	b = append(b, '{')
	b = appendKey(b, "model")
	b = appendString(b, req.Model)
	b = appendKey(b, "max_tokens")
	b = strconv.AppendInt(b, int64(maxTokens), 10)

	// Structured output: decide before writing system and tools.
	var jsonTool *llm.Tool
	var nativeFormat json.RawMessage
	jsonInstruction := false
	if rf := req.ResponseFormat; rf != nil && (rf.Type == llm.FormatJSONSchema || rf.Type == llm.FormatJSONObject) {
		_, rawOC := extra("output_config")
		_, rawOF := extra("output_format")
		switch {
		case rawOC || rawOF:
			// The Anthropic client asked natively; Extra carries it.
		case rf.Type == llm.FormatJSONSchema && (thinking || opts.NativeStructuredOutput):
			nativeFormat = schemaOrObject(rf.Schema)
		case rf.Type == llm.FormatJSONObject && thinking:
			jsonInstruction = true
		default:
			jsonTool = &llm.Tool{
				Name:        jsonToolName(rf.Name, req.Tools),
				Description: rf.Description,
				Parameters:  schemaOrObject(rf.Schema),
			}
			if jsonTool.Description == "" {
				jsonTool.Description = "Give the final answer by calling this tool; its input is the answer."
			}
			emu.JSONTool = jsonTool.Name
		}
	}

	var err error
	if b, err = appendSystem(b, req.System, jsonInstruction); err != nil {
		return nil, emu, err
	}
	if b, err = appendMessages(b, req); err != nil {
		return nil, emu, err
	}

	if !thinking {
		temp := req.Temperature
		if temp != nil {
			t := math.Min(math.Max(*temp, 0), 1)
			temp = &t
			b = appendKey(b, "temperature")
			b = strconv.AppendFloat(b, t, 'g', -1, 64)
		}
		if req.TopP != nil && (temp == nil || fromAnthropic) {
			b = appendKey(b, "top_p")
			b = strconv.AppendFloat(b, math.Min(math.Max(*req.TopP, 0), 1), 'g', -1, 64)
		}
		if req.TopK != nil && *req.TopK > 0 {
			b = appendKey(b, "top_k")
			b = strconv.AppendInt(b, int64(*req.TopK), 10)
		}
	}
	first := true
	for _, s := range req.Stop {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if first {
			b = appendKey(b, "stop_sequences")
			b = append(b, '[')
			first = false
		} else {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	if !first {
		b = append(b, ']')
	}
	if req.Stream {
		b = appendKey(b, "stream")
		b = append(b, "true"...)
	}

	switch {
	case haveRawThinking:
		b = appendKey(b, "thinking")
		b = append(b, rawThinking...)
	case thinking:
		b = appendKey(b, "thinking")
		b = append(b, `{"type":"enabled","budget_tokens":`...)
		b = strconv.AppendInt(b, int64(budget), 10)
		b = append(b, '}')
	}

	if b, err = appendTools(b, req, jsonTool, fromAnthropic); err != nil {
		return nil, emu, err
	}

	if raw, ok := extra("metadata"); ok {
		b = appendKey(b, "metadata")
		b = append(b, raw...)
	} else if req.User != "" {
		b = appendKey(b, "metadata")
		b = append(b, `{"user_id":`...)
		b = appendString(b, req.User)
		b = append(b, '}')
	}
	if nativeFormat != nil {
		b = appendKey(b, "output_config")
		b = append(b, `{"format":{"type":"json_schema","schema":`...)
		b = append(b, nativeFormat...)
		b = append(b, `}}`...)
	}

	if fromAnthropic && len(req.Extra) > 0 {
		keys := make([]string, 0, len(req.Extra))
		for k := range req.Extra {
			switch k {
			case "thinking", "metadata", "model", "max_tokens", "system", "messages", "tools",
				"tool_choice", "temperature", "top_p", "top_k", "stop_sequences", "stream":
				continue // written above, or owned by the hub
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := req.Extra[k]
			if !gjson.ValidBytes(v) {
				return nil, emu, invalid(k, "%s: not valid JSON", k)
			}
			b = appendKey(b, k)
			b = append(b, v...)
		}
	}
	b = append(b, '}')
	return b, emu, nil
}

// unsignedToolTurn reports whether the last assistant turn calls tools
// without a signed (or redacted) thinking block this upstream accepts.
func unsignedToolTurn(req *llm.Request) bool {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := &req.Messages[i]
		if m.Role != llm.RoleAssistant {
			continue
		}
		calls, signed := false, false
		for j := range m.Parts {
			p := &m.Parts[j]
			switch {
			case p.Type == llm.PartToolCall:
				calls = true
			case p.Type == llm.PartReasoning && p.Signature != "", p.Type == llm.PartRedactedReasoning && p.Data != "":
				signed = signed || req.TokenAllowed(p, SourceFormat)
			}
		}
		return calls && !signed
	}
	return false
}

func thinkingBudget(r *llm.Reasoning) int {
	n := r.BudgetTokens
	if n == 0 {
		switch r.Effort {
		case "minimal", "low":
			n = budgetLow
		case "high":
			n = budgetHigh
		case "xhigh", "max":
			n = budgetXHigh
		default:
			n = budgetMedium
		}
	}
	return max(n, budgetMin)
}

// schemaOrObject returns the schema, or a permissive object schema.
func schemaOrObject(s json.RawMessage) json.RawMessage {
	if isObjectJSON(s) {
		return s
	}
	return json.RawMessage(`{"type":"object"}`)
}

// jsonToolName picks a valid tool name not used by the caller's tools.
func jsonToolName(name string, tools []llm.Tool) string {
	name = sanitizeName(name, 64)
	if name == "" {
		name = DefaultJSONToolName
	}
	base := name
	for i := 2; slices.ContainsFunc(tools, func(t llm.Tool) bool { return t.Name == name }); i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

// sanitizeName keeps [A-Za-z0-9_-] and replaces anything else with '_'.
func sanitizeName(s string, limit int) string {
	if len(s) > limit {
		s = s[:limit]
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	out := []byte(s)
	for i, c := range out {
		if !isIDByte(c) {
			out[i] = '_'
		}
	}
	return string(out)
}

func isIDByte(c byte) bool {
	return c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func appendSystem(b []byte, system []llm.Part, jsonInstruction bool) ([]byte, error) {
	first := true
	open := func() {
		if first {
			b = appendKey(b, "system")
			b = append(b, '[')
			first = false
		} else {
			b = append(b, ',')
		}
	}
	for i, p := range system {
		if p.Type != llm.PartText && p.Type != "" {
			return nil, invalid("system", "system[%d]: only text can be sent as an Anthropic system prompt, not %s", i, p.Type)
		}
		if p.Text == "" {
			continue
		}
		open()
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, p.Text)
		b = appendCacheControl(b, p.CacheControl)
		b = append(b, '}')
	}
	if jsonInstruction {
		open()
		b = append(b, `{"type":"text","text":"Respond only with a single valid JSON object, with no text before or after it."}`...)
	}
	if !first {
		b = append(b, ']')
	}
	return b, nil
}

// turn is one Anthropic message being assembled from hub messages.
type turn struct {
	role  string
	parts []llm.Part
}

// groupTurns merges hub messages into alternating Anthropic turns. Tool
// results join the user turn; inside a user turn tool_result blocks go
// first (Anthropic requires them to lead), keeping their relative order.
func groupTurns(msgs []llm.Message) []turn {
	turns := make([]turn, 0, len(msgs))
	for _, m := range msgs {
		role := "user"
		if m.Role == llm.RoleAssistant {
			role = "assistant"
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].parts = append(turns[n-1].parts, m.Parts...)
			continue
		}
		// Copy so that merging never appends into the caller's backing array.
		turns = append(turns, turn{role: role, parts: slices.Clone(m.Parts)})
	}
	for i := range turns {
		if turns[i].role != "user" {
			continue
		}
		ps := turns[i].parts
		// Stable partition: results first.
		seenOther := false
		needs := false
		for _, p := range ps {
			if p.Type == llm.PartToolResult {
				if seenOther {
					needs = true
					break
				}
			} else {
				seenOther = true
			}
		}
		if needs {
			slices.SortStableFunc(ps, func(a, b llm.Part) int {
				ar, br := a.Type == llm.PartToolResult, b.Type == llm.PartToolResult
				switch {
				case ar == br:
					return 0
				case ar:
					return -1
				}
				return 1
			})
		}
	}
	return turns
}

func appendMessages(b []byte, req *llm.Request) ([]byte, error) {
	b = appendKey(b, "messages")
	b = append(b, '[')
	firstMsg := true
	var err error
	for ti, t := range groupTurns(req.Messages) {
		mark := len(b)
		if !firstMsg {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = appendString(b, t.role)
		b = append(b, `,"content":[`...)
		blocks := 0
		parts := keepTokens(req, t.parts, t.role == "assistant")
		for pi, p := range parts {
			var wrote bool
			b, wrote, err = appendPart(b, p, t.role == "assistant", blocks == 0)
			if err != nil {
				return nil, annotate(err, ti, pi)
			}
			if wrote {
				blocks++
			}
		}
		if blocks == 0 {
			b = b[:mark] // an empty turn: Anthropic rejects it
			continue
		}
		b = append(b, "]}"...)
		firstMsg = false
	}
	return append(b, ']'), nil
}

// keepTokens prepares a turn's reasoning for Anthropic: a signature or
// redacted blob Anthropic did not issue for this channel is cleared (its
// block is then dropped as unsigned). From clients of other formats, the
// unsigned reasoning parts before a signed one are joined into it: a
// Gemini client returns a streamed thought as many parts with the
// signature on the last, and Anthropic checks the signature against the
// whole thinking text.
func keepTokens(req *llm.Request, parts []llm.Part, assistant bool) []llm.Part {
	if !assistant {
		return parts
	}
	join := req.SourceFormat != SourceFormat
	out := make([]llm.Part, 0, len(parts))
	var pending strings.Builder
	for i := range parts {
		p := parts[i]
		switch p.Type {
		case llm.PartReasoning:
			if p.Signature != "" && !req.TokenAllowed(&p, SourceFormat) {
				p.Signature = ""
			}
			if join {
				if p.Signature == "" {
					pending.WriteString(p.Text)
					continue
				}
				if pending.Len() > 0 {
					p.Text = pending.String() + p.Text
					pending.Reset()
				}
			}
		case llm.PartRedactedReasoning:
			if !req.TokenAllowed(&p, SourceFormat) {
				continue
			}
			pending.Reset()
		default:
			pending.Reset()
		}
		out = append(out, p)
	}
	return out
}

func annotate(err error, turn, part int) error {
	if ge, ok := err.(*gateway.Error); ok && ge.Param == "" {
		ge.Param = "messages[" + strconv.Itoa(turn) + "].content[" + strconv.Itoa(part) + "]"
	}
	return err
}

// appendPart writes one content block; wrote is false when the part is
// dropped (empty text, unsigned reasoning, reasoning outside assistant turns).
func appendPart(b []byte, p llm.Part, assistant, first bool) (out []byte, wrote bool, err error) {
	comma := func() {
		if !first {
			b = append(b, ',')
		}
	}
	switch p.Type {
	case llm.PartText, "":
		if p.Text == "" {
			return b, false, nil
		}
		comma()
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, p.Text)
	case llm.PartImage:
		comma()
		b = append(b, `{"type":"image","source":`...)
		if b, err = appendSource(b, p, false); err != nil {
			return nil, false, err
		}
	case llm.PartFile:
		comma()
		b = append(b, `{"type":"document","source":`...)
		if b, err = appendSource(b, p, true); err != nil {
			return nil, false, err
		}
		if p.FileName != "" {
			b = append(b, `,"title":`...)
			b = appendString(b, p.FileName)
		}
	case llm.PartAudio:
		return nil, false, invalid("", "audio input is not supported by Anthropic models")
	case llm.PartToolCall:
		comma()
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendString(b, sanitizeName(p.ToolCallID, 1<<10))
		b = append(b, `,"name":`...)
		b = appendString(b, p.ToolName)
		b = append(b, `,"input":`...)
		if isObjectJSON(p.Arguments) {
			b = append(b, p.Arguments...)
		} else {
			b = append(b, "{}"...)
		}
	case llm.PartToolResult:
		comma()
		b = append(b, `{"type":"tool_result","tool_use_id":`...)
		b = appendString(b, sanitizeName(p.ToolCallID, 1<<10))
		if b, err = appendToolResultContent(b, p.Content); err != nil {
			return nil, false, err
		}
		if p.IsError {
			b = append(b, `,"is_error":true`...)
		}
	case llm.PartReasoning:
		if !assistant || p.Signature == "" {
			return b, false, nil
		}
		comma()
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendString(b, p.Text)
		b = append(b, `,"signature":`...)
		b = appendString(b, p.Signature)
		return append(b, '}'), true, nil // thinking blocks take no cache_control
	case llm.PartRedactedReasoning:
		if !assistant || p.Data == "" {
			return b, false, nil
		}
		comma()
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = appendString(b, p.Data)
		return append(b, '}'), true, nil
	default:
		return nil, false, invalid("", "content of type %q cannot be sent to Anthropic models", p.Type)
	}
	b = appendCacheControl(b, p.CacheControl)
	return append(b, '}'), true, nil
}

func appendToolResultContent(b []byte, content []llm.Part) ([]byte, error) {
	if len(content) == 0 {
		return b, nil
	}
	if len(content) == 1 && (content[0].Type == llm.PartText || content[0].Type == "") && content[0].CacheControl == nil {
		b = append(b, `,"content":`...)
		return appendString(b, content[0].Text), nil
	}
	b = append(b, `,"content":[`...)
	n := 0
	for _, c := range content {
		switch c.Type {
		case llm.PartText, "", llm.PartImage, llm.PartFile:
		default:
			return nil, invalid("", "a tool result may hold text, images and documents, not %s", c.Type)
		}
		var wrote bool
		var err error
		if b, wrote, err = appendPart(b, c, false, n == 0); err != nil {
			return nil, err
		}
		if wrote {
			n++
		}
	}
	return append(b, ']'), nil
}

// appendSource writes an image or document source object.
func appendSource(b []byte, p llm.Part, document bool) ([]byte, error) {
	data, mediaType, url := p.Data, p.MediaType, p.URL
	if data == "" && strings.HasPrefix(url, "data:") {
		// data:[<media type>][;base64],<data>
		meta, payload, ok := strings.Cut(url[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, invalid("", "only base64 data: URLs can be sent to Anthropic models")
		}
		mediaType, data, url = strings.TrimSuffix(meta, ";base64"), payload, ""
	}
	if data != "" {
		if document && mediaType == "text/plain" {
			text, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return nil, invalid("", "text document is not valid base64")
			}
			b = append(b, `{"type":"text","media_type":"text/plain","data":`...)
			b = appendString(b, string(text))
			return append(b, '}'), nil
		}
		if document && mediaType != "application/pdf" {
			return nil, invalid("", "files of type %q cannot be sent to Anthropic models (PDF and plain text only)", mediaType)
		}
		b = append(b, `{"type":"base64","media_type":`...)
		b = appendString(b, mediaType)
		b = append(b, `,"data":`...)
		b = appendString(b, data)
		return append(b, '}'), nil
	}
	if url == "" {
		return nil, invalid("", "media content has neither data nor url")
	}
	if document && mediaType != "" && mediaType != "application/pdf" {
		return nil, invalid("", "files of type %q cannot be sent to Anthropic models by URL (PDF only)", mediaType)
	}
	b = append(b, `{"type":"url","url":`...)
	b = appendString(b, url)
	return append(b, '}'), nil
}

func appendTools(b []byte, req *llm.Request, jsonTool *llm.Tool, fromAnthropic bool) ([]byte, error) {
	if len(req.Tools) == 0 && jsonTool == nil {
		return b, nil
	}
	b = appendKey(b, "tools")
	b = append(b, '[')
	n := 0
	writeTool := func(t *llm.Tool) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"name":`...)
		b = appendString(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = appendString(b, t.Description)
		}
		b = append(b, `,"input_schema":`...)
		if isObjectJSON(t.Parameters) {
			b = append(b, t.Parameters...)
		} else {
			b = append(b, `{"type":"object","properties":{}}`...)
		}
		if fromAnthropic && t.Strict != nil {
			b = append(b, `,"strict":`...)
			b = strconv.AppendBool(b, *t.Strict)
		}
		b = appendCacheControl(b, t.CacheControl)
		b = append(b, '}')
	}
	for i := range req.Tools {
		t := &req.Tools[i]
		if len(t.Raw) > 0 {
			if !fromAnthropic {
				return nil, invalid("tools", "tool %q is a built-in tool of another provider and cannot be sent to Anthropic models", t.Name)
			}
			if !isObjectJSON(t.Raw) {
				return nil, invalid("tools", "tool %q is not a JSON object", t.Name)
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, t.Raw...)
			continue
		}
		writeTool(t)
	}
	if jsonTool != nil {
		writeTool(jsonTool)
	}
	b = append(b, ']')

	disable := req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	tc := req.ToolChoice
	if tc != nil && tc.DisableParallel {
		disable = true
	}
	mode, name := llm.ToolChoiceAuto, ""
	explicit := tc != nil
	if tc != nil {
		mode, name = tc.Mode, tc.Name
	}
	if jsonTool != nil {
		// Either a real tool or the answer tool must be called.
		switch {
		case len(req.Tools) == 0 || mode == llm.ToolChoiceNone:
			mode, name = llm.ToolChoiceTool, jsonTool.Name
		case mode == llm.ToolChoiceAuto || mode == "" || mode == llm.ToolChoiceRequired:
			mode = llm.ToolChoiceRequired
		}
		explicit = true
	}
	if !explicit && !disable {
		return b, nil
	}
	b = appendKey(b, "tool_choice")
	switch mode {
	case llm.ToolChoiceRequired:
		b = append(b, `{"type":"any"`...)
	case llm.ToolChoiceNone:
		b = append(b, `{"type":"none"`...)
	case llm.ToolChoiceTool:
		b = append(b, `{"type":"tool","name":`...)
		b = appendString(b, name)
	default:
		b = append(b, `{"type":"auto"`...)
	}
	if disable && mode != llm.ToolChoiceNone {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}'), nil
}
