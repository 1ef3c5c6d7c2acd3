package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// ---------------------------------------------------------------------------
// Encoding: hub → an OpenAI-compatible upstream (EncodeRequest).
//
// Capability table (what EncodeRequest does with each hub feature):
//
//	feature                          | action
//	---------------------------------+-------------------------------------------------------------
//	System parts                     | one leading "system" message (string, or text parts if >1)
//	non-text System part             | 400: OpenAI system messages hold text only
//	text/image/audio/file user parts | text, image_url (data URI when Data), input_audio, file
//	file part with an http(s) URL    | 400: chat file parts take file_data or file_id only
//	tool_result parts                | one role:"tool" message per result (text content)
//	images inside tool results       | emulated: a user message with the images follows the tool messages
//	tool_result IsError              | dropped: Chat Completions has no error flag (the text says it)
//	tool_call parts                  | assistant tool_calls; arguments re-serialised as a JSON string
//	tool_call without an id          | 400: OpenAI matches results to calls by id
//	reasoning parts (assistant)      | reasoning_content string (DeepSeek requires it on tool turns);
//	                                 | signatures are dropped; not sent for OpenAI's own models
//	                                 | (gpt-*, o-series), which reject unknown message fields
//	redacted reasoning               | dropped: opaque to every provider but its issuer
//	assistant audio part             | audio:{id} when the id is known, else its transcript as text
//	CacheControl                     | dropped: OpenAI caches prompts automatically
//	MaxTokens                        | max_tokens; max_completion_tokens when Reasoning is enabled or the
//	                                 | model is an OpenAI reasoning model (o1/o3/o4/gpt-5), which
//	                                 | reject max_tokens
//	TopK                             | dropped (sampling hint; OpenAI rejects top_k with a 400)
//	Reasoning.Effort                 | reasoning_effort
//	Reasoning.BudgetTokens           | openai source: thinking re-emitted as the client sent it;
//	                                 | other sources: mapped to reasoning_effort (≤2048 low,
//	                                 | ≤16384 medium, else high)
//	ToolChoice.DisableParallel       | parallel_tool_calls:false
//	ResponseFormat json_schema       | json_schema{name ("response" when empty), description, schema, strict}
//	Tool.Raw (built-in tools)        | openai source: verbatim; other sources: 400
//	Stream                           | stream:true + stream_options.include_usage:true (always metered)
//	Extra                            | re-emitted only when SourceFormat == "openai"
// ---------------------------------------------------------------------------

type chatRequest struct {
	Model               string              `json:"model"`
	Messages            []chatMessage       `json:"messages"`
	MaxTokens           *int                `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int                `json:"max_completion_tokens,omitempty"`
	Temperature         *float64            `json:"temperature,omitempty"`
	TopP                *float64            `json:"top_p,omitempty"`
	Stop                []string            `json:"stop,omitempty"`
	N                   int                 `json:"n,omitempty"`
	Seed                *int64              `json:"seed,omitempty"`
	PresencePenalty     *float64            `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64            `json:"frequency_penalty,omitempty"`
	Stream              bool                `json:"stream,omitempty"`
	StreamOptions       json.RawMessage     `json:"stream_options,omitempty"`
	Tools               []json.RawMessage   `json:"tools,omitempty"`
	ToolChoice          any                 `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool               `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *chatResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort     string              `json:"reasoning_effort,omitempty"`
	Thinking            *chatThinking       `json:"thinking,omitempty"`
	Modalities          []string            `json:"modalities,omitempty"`
	Audio               json.RawMessage     `json:"audio,omitempty"`
	User                string              `json:"user,omitempty"`
	Metadata            map[string]string   `json:"metadata,omitempty"`
}

type chatMessage struct {
	Role             string         `json:"role"`
	Content          any            `json:"content"` // string, []chatPart or nil (null)
	Name             string         `json:"name,omitempty"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	ToolCalls        []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID       string         `json:"tool_call_id,omitempty"`
	Audio            *chatAudioRef  `json:"audio,omitempty"`
}

type chatPart struct {
	Type       string          `json:"type"`
	Text       *string         `json:"text,omitempty"`
	ImageURL   *chatImageURL   `json:"image_url,omitempty"`
	InputAudio *chatInputAudio `json:"input_audio,omitempty"`
	File       *chatFile       `json:"file,omitempty"`
}

type chatImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type chatInputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

type chatFile struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type chatAudioRef struct {
	ID string `json:"id"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatToolDef struct {
	Type     string      `json:"type"`
	Function chatFuncDef `json:"function"`
}

type chatFuncDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type chatNamedToolChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

type chatResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema *chatJSONSchema `json:"json_schema,omitempty"`
}

type chatJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type chatThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// EncodeRequest renders a hub request for an OpenAI-compatible upstream.
// See the capability table above for what is mapped, emulated or rejected.
func EncodeRequest(req *llm.Request) ([]byte, error) {
	if req.Model == "" {
		return nil, invalid("model", "model is required")
	}
	sameFormat := req.SourceFormat == SourceFormat
	out := chatRequest{
		Model:            req.Model,
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		Stop:             req.Stop,
		Seed:             req.Seed,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
		Stream:           req.Stream,
		Modalities:       req.Modalities,
		User:             req.User,
		Metadata:         req.Metadata,
	}
	if len(req.Audio) > 0 {
		out.Audio = req.Audio
	}
	if req.N > 1 {
		out.N = req.N
	}
	if req.MaxTokens != nil {
		if (req.Reasoning != nil && req.Reasoning.Enabled) || isReasoningModel(req.Model) {
			out.MaxCompletionTokens = req.MaxTokens
		} else {
			out.MaxTokens = req.MaxTokens
		}
	}
	if req.Stream {
		so := []byte(`{}`)
		if raw, ok := req.Extra["stream_options"]; ok && sameFormat && gjson.ValidBytes(raw) && gjson.ParseBytes(raw).IsObject() {
			so = raw
		}
		so, err := sjson.SetBytes(slices.Clone(so), "include_usage", true)
		if err != nil {
			return nil, fmt.Errorf("openai: set stream_options.include_usage: %w", err)
		}
		out.StreamOptions = so
	}
	msgs, err := encodeMessages(req)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs
	for i, t := range req.Tools {
		raw, err := encodeTool(t, sameFormat, req.SourceFormat)
		if err != nil {
			return nil, err.WithParam(idx("tools", i))
		}
		out.Tools = append(out.Tools, raw)
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired:
			out.ToolChoice = string(tc.Mode)
		case llm.ToolChoiceTool:
			var c chatNamedToolChoice
			c.Type = "function"
			c.Function.Name = tc.Name
			out.ToolChoice = c
		case "":
		default:
			return nil, invalid("tool_choice", "tool choice mode %q cannot be sent to an OpenAI upstream", tc.Mode)
		}
		if tc.DisableParallel && req.ParallelToolCalls == nil && len(req.Tools) > 0 {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	if req.ParallelToolCalls != nil {
		out.ParallelToolCalls = req.ParallelToolCalls
	}
	if rf := req.ResponseFormat; rf != nil {
		out.ResponseFormat = &chatResponseFormat{Type: string(rf.Type)}
		if rf.Type == llm.FormatJSONSchema {
			name := rf.Name
			if name == "" {
				name = "response" // OpenAI requires a name
			}
			out.ResponseFormat.JSONSchema = &chatJSONSchema{Name: name, Description: rf.Description, Schema: rf.Schema, Strict: rf.Strict}
		}
	}
	encodeReasoning(&out, req.Reasoning, sameFormat)

	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("openai: encode chat request: %w", err)
	}
	if sameFormat {
		b = appendExtra(b, req.Extra)
	}
	return b, nil
}

// isReasoningModel matches the OpenAI model families that reject max_tokens.
func isReasoningModel(model string) bool {
	m := model
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // "openai/o3-mini" on routers
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if m == p || strings.HasPrefix(m, p+"-") {
			return true
		}
	}
	return false
}

func encodeReasoning(out *chatRequest, r *llm.Reasoning, sameFormat bool) {
	if r == nil {
		return
	}
	out.ReasoningEffort = r.Effort
	if sameFormat {
		// Only thinking can have produced a budget, an effort-less setting or
		// an Enabled that disagrees with the effort: send it back as sent.
		if r.BudgetTokens > 0 || r.Effort == "" || r.Enabled != effortEnables(r.Effort) {
			t := &chatThinking{Type: "disabled", BudgetTokens: r.BudgetTokens}
			if r.Enabled {
				t.Type = "enabled"
			}
			out.Thinking = t
		}
		return
	}
	if r.Effort == "" && r.Enabled {
		switch b := r.BudgetTokens; {
		case b == 0:
			out.ReasoningEffort = "medium"
		case b <= 2048:
			out.ReasoningEffort = "low"
		case b <= 16384:
			out.ReasoningEffort = "medium"
		default:
			out.ReasoningEffort = "high"
		}
	}
}

func encodeTool(t llm.Tool, sameFormat bool, source string) (json.RawMessage, *gateway.Error) {
	if len(t.Raw) > 0 {
		if !sameFormat {
			return nil, gateway.Errorf(gateway.KindInvalidRequest,
				"built-in tool %q of the %s API cannot be sent to an OpenAI chat upstream", t.Name, source)
		}
		return t.Raw, nil
	}
	if t.Name == "" {
		return nil, gateway.Errorf(gateway.KindInvalidRequest, "tool name is required")
	}
	params := t.Parameters
	if len(bytes.TrimSpace(params)) == 0 {
		params = nil
	}
	b, err := json.Marshal(chatToolDef{Type: "function", Function: chatFuncDef{
		Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict,
	}})
	if err != nil {
		return nil, gateway.Errorf(gateway.KindInvalidRequest, "tool %q has invalid parameters: %v", t.Name, err)
	}
	return b, nil
}

// appendExtra splices Extra's fields into the encoded object, in key order
// for deterministic output, skipping fields the encoder owns.
func appendExtra(b []byte, extra map[string]json.RawMessage) []byte {
	if len(extra) == 0 {
		return b
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !knownTopField(k) && json.Valid(extra[k]) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b
	}
	slices.Sort(keys)
	b = b[:len(b)-1] // drop '}'
	for _, k := range keys {
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, bytes.TrimSpace(extra[k])...)
	}
	return append(b, '}')
}

// msgBuilder collects outgoing messages. Images returned by tools are held
// until the run of tool messages ends: OpenAI requires every tool message to
// follow its assistant turn directly, and tool messages hold text only.
type msgBuilder struct {
	out        []chatMessage
	toolImages []chatPart
}

func (b *msgBuilder) add(m chatMessage) {
	if m.Role != "tool" && len(b.toolImages) > 0 {
		b.out = append(b.out, chatMessage{Role: "user", Content: b.toolImages})
		b.toolImages = nil
	}
	b.out = append(b.out, m)
}

func encodeMessages(req *llm.Request) ([]chatMessage, error) {
	b := msgBuilder{out: make([]chatMessage, 0, len(req.Messages)+1)}
	if len(req.System) > 0 {
		parts := make([]chatPart, 0, len(req.System))
		for i, p := range req.System {
			if p.Type != llm.PartText {
				return nil, invalid(idx("system", i), "system content of type %q cannot be sent to OpenAI: system messages hold text only", p.Type)
			}
			parts = append(parts, textPart(p.Text))
		}
		b.add(chatMessage{Role: "system", Content: collapseText(parts)})
	}
	for i, m := range req.Messages {
		var err error
		switch m.Role {
		case llm.RoleUser, llm.RoleTool:
			err = b.userOrTool(i, m)
		case llm.RoleAssistant:
			var msg chatMessage
			if msg, err = encodeAssistant(i, m, isOpenAIModel(req.Model)); err == nil {
				b.add(msg)
			}
		default:
			err = invalid(idx("messages", i)+".role", "message role %q cannot be sent to OpenAI", m.Role)
		}
		if err != nil {
			return nil, err
		}
	}
	b.add(chatMessage{Role: "end"}) // flushes held images
	return b.out[:len(b.out)-1], nil
}

func textPart(s string) chatPart { return chatPart{Type: "text", Text: &s} }

// collapseText sends a lone text part as a plain string, the form every
// OpenAI-compatible server accepts.
func collapseText(parts []chatPart) any {
	if len(parts) == 1 && parts[0].Type == "text" {
		return *parts[0].Text
	}
	return parts
}

// userOrTool splits a message into role:"tool" messages for its tool
// results and user messages for everything else, in order.
func (b *msgBuilder) userOrTool(i int, m llm.Message) error {
	var user []chatPart
	flushUser := func() {
		if len(user) > 0 {
			b.add(chatMessage{Role: "user", Name: m.Name, Content: collapseText(user)})
			user = nil
		}
	}
	for j, p := range m.Parts {
		param := idx(idx("messages", i)+".content", j)
		if p.Type != llm.PartToolResult {
			cp, err := encodeUserPart(param, p)
			if err != nil {
				return err
			}
			user = append(user, cp)
			continue
		}
		flushUser()
		if p.ToolCallID == "" {
			return invalid(param, "tool result without a tool call id cannot be sent to OpenAI")
		}
		var text, imgs []chatPart
		for k, c := range p.Content {
			switch c.Type {
			case llm.PartText:
				if c.Text != "" {
					text = append(text, textPart(c.Text))
				}
			case llm.PartImage:
				cp, err := encodeUserPart(idx(param+".content", k), c)
				if err != nil {
					return err
				}
				imgs = append(imgs, cp)
			default:
				return invalid(idx(param+".content", k), "tool result content of type %q cannot be sent to OpenAI", c.Type)
			}
		}
		var content any = ""
		if len(text) > 0 {
			content = collapseText(text)
		}
		b.add(chatMessage{Role: "tool", ToolCallID: p.ToolCallID, Content: content})
		if len(imgs) > 0 {
			b.toolImages = append(b.toolImages, textPart("Images returned by tool call "+p.ToolCallID+":"))
			b.toolImages = append(b.toolImages, imgs...)
		}
	}
	if len(m.Parts) == 0 && m.Role == llm.RoleUser {
		b.add(chatMessage{Role: "user", Name: m.Name, Content: ""})
	}
	flushUser()
	return nil
}

func encodeUserPart(param string, p llm.Part) (chatPart, error) {
	switch p.Type {
	case llm.PartText:
		return textPart(p.Text), nil
	case llm.PartImage:
		url := p.URL
		if p.Data != "" {
			mt := p.MediaType
			if mt == "" {
				mt = "image/png"
			}
			url = dataURI(mt, p.Data)
		}
		if url == "" {
			return chatPart{}, invalid(param, "image without data or URL")
		}
		return chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: url, Detail: p.Detail}}, nil
	case llm.PartAudio:
		if p.Data == "" {
			return chatPart{}, invalid(param, "OpenAI chat accepts input audio as base64 data only")
		}
		return chatPart{Type: "input_audio", InputAudio: &chatInputAudio{Data: p.Data, Format: audioFormat(p.MediaType)}}, nil
	case llm.PartFile:
		f := &chatFile{Filename: p.FileName}
		switch {
		case p.Data != "" && p.MediaType != "":
			f.FileData = dataURI(p.MediaType, p.Data)
		case p.Data != "":
			f.FileData = p.Data
		}
		if strings.HasPrefix(p.URL, "http://") || strings.HasPrefix(p.URL, "https://") {
			return chatPart{}, invalid(param, "OpenAI chat file parts take file_data or file_id, not a URL")
		}
		f.FileID = p.URL
		if f.FileData == "" && f.FileID == "" {
			return chatPart{}, invalid(param, "file without data or file id")
		}
		return chatPart{Type: "file", File: f}, nil
	}
	return chatPart{}, invalid(param, "content of type %q cannot be sent to OpenAI in a user message", p.Type)
}

// isOpenAIModel matches OpenAI's own model names, which reject message
// fields other servers accept (reasoning_content).
func isOpenAIModel(model string) bool {
	if isReasoningModel(model) {
		return true
	}
	m := model[strings.LastIndexByte(model, '/')+1:]
	m = strings.TrimPrefix(m, "ft:")
	return strings.HasPrefix(m, "gpt-") || strings.HasPrefix(m, "chatgpt-")
}

func encodeAssistant(i int, m llm.Message, openAIModel bool) (chatMessage, error) {
	msg := chatMessage{Role: "assistant", Name: m.Name}
	var text []chatPart
	var reasoning strings.Builder
	for j, p := range m.Parts {
		param := idx(idx("messages", i)+".content", j)
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				text = append(text, textPart(p.Text))
			}
		case llm.PartReasoning:
			reasoning.WriteString(p.Text)
		case llm.PartRedactedReasoning:
			// Opaque to everyone but its issuer; see the capability table.
		case llm.PartToolCall:
			if p.ToolCallID == "" {
				return msg, invalid(param, "tool call without an id cannot be sent to OpenAI")
			}
			msg.ToolCalls = append(msg.ToolCalls, chatToolCall{ID: p.ToolCallID, Type: "function",
				Function: chatFunction{Name: p.ToolName, Arguments: argumentsToWire(p.Arguments)}})
		case llm.PartAudio:
			switch {
			case p.Signature != "":
				msg.Audio = &chatAudioRef{ID: p.Signature}
			case p.Text != "":
				text = append(text, textPart(p.Text))
			default:
				return msg, invalid(param, "assistant audio without an OpenAI audio id or transcript cannot be sent to OpenAI")
			}
		default:
			return msg, invalid(param, "content of type %q cannot be sent to OpenAI in an assistant message", p.Type)
		}
	}
	if !openAIModel {
		msg.ReasoningContent = reasoning.String()
	}
	switch {
	case len(text) > 0:
		msg.Content = collapseText(text)
	case len(msg.ToolCalls) > 0 || msg.Audio != nil:
		msg.Content = nil
	default:
		msg.Content = ""
	}
	return msg, nil
}
