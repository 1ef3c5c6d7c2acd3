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

// DecodeRequest parses a Chat Completions request body into the hub.
// Top-level fields the hub has no slot for are kept verbatim in Extra with
// SourceFormat "openai"; unknown fields inside messages are ignored (vendor
// annotations such as OpenRouter's reasoning_details have no meaning for
// other upstreams). Errors are *gateway.Error of KindInvalidRequest with
// Param naming the offending field.
func DecodeRequest(body []byte) (*llm.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, invalid("", "request body is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "request body must be a JSON object")
	}
	req := &llm.Request{SourceFormat: SourceFormat}
	var (
		err                        error
		model, messages            gjson.Result
		maxTokens, maxCompletion   gjson.Result
		effort, thinking           gjson.Result
		haveModel, haveMessages    bool
		haveEffort, haveThinking   bool
		haveMaxTok, haveMaxCompTok bool
	)
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			model, haveModel = v, true
		case "messages":
			messages, haveMessages = v, true
		case "max_tokens":
			maxTokens, haveMaxTok = v, true
		case "max_completion_tokens":
			maxCompletion, haveMaxCompTok = v, true
		case "reasoning_effort":
			effort, haveEffort = v, true
		case "thinking":
			thinking, haveThinking = v, true
		default:
			err = decodeTopField(req, k.Str, v)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if !haveModel || isNull(model) {
		return nil, invalid("model", "model is required")
	}
	if req.Model, err = wantString("model", model); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, invalid("model", "model must not be empty")
	}
	if !haveMessages || isNull(messages) {
		return nil, invalid("messages", "messages is required")
	}
	if !messages.IsArray() {
		return nil, invalid("messages", "messages must be an array")
	}
	if err := decodeMessages(req, messages); err != nil {
		return nil, err
	}
	// max_completion_tokens supersedes the deprecated max_tokens.
	for _, f := range []struct {
		name string
		v    gjson.Result
		ok   bool
	}{{"max_tokens", maxTokens, haveMaxTok}, {"max_completion_tokens", maxCompletion, haveMaxCompTok}} {
		if !f.ok || isNull(f.v) {
			continue
		}
		n, err := wantInt(f.name, f.v)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 1<<31 {
			return nil, invalid(f.name, "%s is out of range", f.name)
		}
		m := int(n)
		req.MaxTokens = &m
	}
	if err := decodeReasoning(req, effort, haveEffort, thinking, haveThinking); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeTopField(req *llm.Request, key string, v gjson.Result) error {
	if isNull(v) {
		// null means "not given" for every optional OpenAI parameter; keep
		// unknown nulls so a same-format upstream sees them unchanged.
		if !knownTopField(key) {
			setExtra(req, key, v)
		}
		return nil
	}
	var err error
	switch key {
	case "temperature":
		var f float64
		if f, err = wantNumber(key, v); err == nil {
			req.Temperature = &f
		}
	case "top_p":
		var f float64
		if f, err = wantNumber(key, v); err == nil {
			req.TopP = &f
		}
	case "top_k":
		// Not an OpenAI parameter, but clients of vLLM/OpenRouter send it;
		// the hub carries it to Anthropic and Gemini (EncodeRequest drops it).
		var n int64
		if n, err = wantInt(key, v); err == nil {
			k := int(n)
			req.TopK = &k
		}
	case "presence_penalty":
		var f float64
		if f, err = wantNumber(key, v); err == nil {
			req.PresencePenalty = &f
		}
	case "frequency_penalty":
		var f float64
		if f, err = wantNumber(key, v); err == nil {
			req.FrequencyPenalty = &f
		}
	case "n":
		var n int64
		if n, err = wantInt(key, v); err == nil {
			if n < 0 || n > 128 {
				return invalid(key, "n must be between 1 and 128")
			}
			if n > 1 { // 0 and 1 both mean one choice in the hub
				req.N = int(n)
			}
		}
	case "seed":
		var n int64
		if n, err = wantInt(key, v); err == nil {
			req.Seed = &n
		}
	case "stop":
		req.Stop, err = decodeStop(v)
	case "stream":
		req.Stream, err = wantBool(key, v)
	case "stream_options":
		if !v.IsObject() {
			return invalid(key, "stream_options must be an object")
		}
		setExtra(req, key, v)
	case "tools":
		req.Tools, err = decodeTools(v)
	case "tool_choice":
		req.ToolChoice, err = decodeToolChoice(v)
	case "parallel_tool_calls":
		var b bool
		if b, err = wantBool(key, v); err == nil {
			req.ParallelToolCalls = &b
		}
	case "response_format":
		req.ResponseFormat, err = decodeResponseFormat(v)
	case "modalities":
		if !v.IsArray() {
			return invalid(key, "modalities must be an array of strings")
		}
		for i, m := range v.Array() {
			s, err := wantString(idx(key, i), m)
			if err != nil {
				return err
			}
			req.Modalities = append(req.Modalities, s)
		}
	case "audio":
		if !v.IsObject() {
			return invalid(key, "audio must be an object")
		}
		req.Audio = json.RawMessage(v.Raw)
	case "user":
		req.User, err = wantString(key, v)
	case "metadata":
		if !v.IsObject() {
			return invalid(key, "metadata must be an object of strings")
		}
		req.Metadata = make(map[string]string)
		v.ForEach(func(mk, mv gjson.Result) bool {
			var s string
			if s, err = wantString(key+"."+mk.Str, mv); err == nil {
				req.Metadata[mk.Str] = s
			}
			return err == nil
		})
	default:
		setExtra(req, key, v)
	}
	return err
}

// knownTopField lists the fields EncodeRequest writes itself, so Extra can
// never shadow them.
func knownTopField(key string) bool {
	switch key {
	case "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
		"presence_penalty", "frequency_penalty", "n", "seed", "stop", "stream", "tools", "tool_choice",
		"parallel_tool_calls", "response_format", "reasoning_effort", "thinking", "modalities", "audio",
		"user", "metadata", "stream_options":
		return true
	}
	return false
}

func setExtra(req *llm.Request, key string, v gjson.Result) {
	if req.Extra == nil {
		req.Extra = make(map[string]json.RawMessage)
	}
	req.Extra[key] = json.RawMessage(v.Raw)
}

func decodeStop(v gjson.Result) ([]string, error) {
	if v.Type == gjson.String {
		if v.Str == "" {
			return nil, nil
		}
		return []string{v.Str}, nil
	}
	if !v.IsArray() {
		return nil, invalid("stop", "stop must be a string or an array of strings")
	}
	var out []string
	for i, s := range v.Array() {
		str, err := wantString(idx("stop", i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, str)
	}
	return out, nil
}

// decodeReasoning merges reasoning_effort and the non-standard
// thinking:{type,budget_tokens} some chat UIs send for Claude models. When
// thinking is present its type decides Enabled; otherwise any effort but
// "none" enables reasoning.
func decodeReasoning(req *llm.Request, effort gjson.Result, haveEffort bool, thinking gjson.Result, haveThinking bool) error {
	var r llm.Reasoning
	set := false
	if haveEffort && !isNull(effort) {
		e, err := wantString("reasoning_effort", effort)
		if err != nil {
			return err
		}
		r.Effort, r.Enabled, set = e, effortEnables(e), true
	}
	if haveThinking && !isNull(thinking) {
		if !thinking.IsObject() {
			return invalid("thinking", "thinking must be an object")
		}
		t := thinking.Get("type")
		typ := ""
		if !isNull(t) {
			var err error
			if typ, err = wantString("thinking.type", t); err != nil {
				return err
			}
		}
		r.Enabled = typ == "enabled"
		if b := thinking.Get("budget_tokens"); !isNull(b) {
			n, err := wantInt("thinking.budget_tokens", b)
			if err != nil {
				return err
			}
			if n < 0 || n > 1<<31 {
				return invalid("thinking.budget_tokens", "thinking.budget_tokens is out of range")
			}
			r.BudgetTokens = int(n)
		}
		set = true
	}
	if set {
		req.Reasoning = &r
	}
	return nil
}

func effortEnables(e string) bool { return e != "" && e != "none" }

func decodeMessages(req *llm.Request, msgs gjson.Result) error {
	var err error
	i := -1
	msgs.ForEach(func(_, m gjson.Result) bool {
		i++
		err = decodeMessage(req, idx("messages", i), m)
		return err == nil
	})
	if err != nil {
		return err
	}
	if i < 0 {
		return invalid("messages", "messages must not be empty")
	}
	return nil
}

func decodeMessage(req *llm.Request, param string, m gjson.Result) error {
	if !m.IsObject() {
		return invalid(param, "%s must be an object", param)
	}
	role, err := wantString(param+".role", m.Get("role"))
	if err != nil {
		return err
	}
	var name string
	if n := m.Get("name"); !isNull(n) {
		if name, err = wantString(param+".name", n); err != nil {
			return err
		}
	}
	content := m.Get("content")
	switch role {
	case "system", "developer":
		parts, err := decodeContent(param+".content", content, textOnly)
		if err != nil {
			return err
		}
		req.System = append(req.System, parts...)
		return nil
	case "user":
		parts, err := decodeContent(param+".content", content, userParts)
		if err != nil {
			return err
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Name: name, Parts: parts})
		return nil
	case "assistant":
		msg, err := decodeAssistant(param, m)
		if err != nil {
			return err
		}
		msg.Name = name
		req.Messages = append(req.Messages, msg)
		return nil
	case "tool":
		id, err := wantString(param+".tool_call_id", m.Get("tool_call_id"))
		if err != nil {
			return err
		}
		parts, err := decodeContent(param+".content", content, textOnly)
		if err != nil {
			return err
		}
		// A tool message's name has no meaning to OpenAI; it is not kept.
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{
			Type: llm.PartToolResult, ToolCallID: id, Content: parts,
		}}})
		return nil
	case "function":
		return invalid(param+".role", "role \"function\" is deprecated and not supported; use tool messages")
	}
	return invalid(param+".role", "%s.role %q is not one of system, developer, user, assistant, tool", param, role)
}

func decodeAssistant(param string, m gjson.Result) (llm.Message, error) {
	msg := llm.Message{Role: llm.RoleAssistant}
	// Reasoning precedes the answer it led to.
	for _, key := range []string{"reasoning_content", "reasoning"} {
		r := m.Get(key)
		if isNull(r) {
			continue
		}
		if r.Type != gjson.String {
			if key == "reasoning" {
				continue // some servers use an object here; it has no hub meaning
			}
			return msg, invalid(param+"."+key, "%s.%s must be a string", param, key)
		}
		if r.Str != "" {
			msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartReasoning, Text: r.Str})
		}
		break
	}
	parts, err := decodeContent(param+".content", m.Get("content"), assistantParts)
	if err != nil {
		return msg, err
	}
	msg.Parts = append(msg.Parts, parts...)
	if r := m.Get("refusal"); !isNull(r) {
		s, err := wantString(param+".refusal", r)
		if err != nil {
			return msg, err
		}
		if s != "" {
			msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartText, Text: s})
		}
	}
	if a := m.Get("audio"); !isNull(a) {
		id, err := wantString(param+".audio.id", a.Get("id"))
		if err != nil {
			return msg, err
		}
		msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartAudio, Signature: id})
	}
	if tc := m.Get("tool_calls"); !isNull(tc) {
		calls, err := decodeToolCalls(param+".tool_calls", tc)
		if err != nil {
			return msg, err
		}
		msg.Parts = append(msg.Parts, calls...)
	}
	return msg, nil
}

func decodeToolCalls(param string, tc gjson.Result) ([]llm.Part, error) {
	if !tc.IsArray() {
		return nil, invalid(param, "%s must be an array", param)
	}
	var out []llm.Part
	for i, c := range tc.Array() {
		p := idx(param, i)
		if !c.IsObject() {
			return nil, invalid(p, "%s must be an object", p)
		}
		if t := c.Get("type"); !isNull(t) && t.String() != "function" {
			return nil, invalid(p+".type", "%s.type %q is not supported; only function tool calls can be carried", p, t.String())
		}
		id, err := wantString(p+".id", c.Get("id"))
		if err != nil {
			return nil, err
		}
		fn := c.Get("function")
		if !fn.IsObject() {
			return nil, invalid(p+".function", "%s.function must be an object", p)
		}
		name, err := wantString(p+".function.name", fn.Get("name"))
		if err != nil {
			return nil, err
		}
		args := ""
		if a := fn.Get("arguments"); !isNull(a) {
			if args, err = wantString(p+".function.arguments", a); err != nil {
				return nil, err
			}
		}
		out = append(out, llm.Part{Type: llm.PartToolCall, ToolCallID: id, ToolName: name, Arguments: argumentsFromWire(args)})
	}
	return out, nil
}

// argumentsFromWire turns OpenAI's arguments string into Part.Arguments: the
// object itself when the string is a JSON object, "{}" when it is empty,
// and otherwise a JSON string holding the text verbatim, so that nothing a
// model produced is lost and argumentsToWire can restore it exactly.
func argumentsFromWire(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return json.RawMessage("{}")
	}
	if t[0] == '{' && gjson.Valid(t) {
		return json.RawMessage(t)
	}
	return json.RawMessage(appendString(nil, s))
}

// argumentsToWire is the inverse of argumentsFromWire.
func argumentsToWire(a json.RawMessage) string {
	a = bytes.TrimSpace(a)
	if len(a) == 0 || string(a) == "null" {
		return "{}"
	}
	if a[0] == '"' {
		var s string
		if json.Unmarshal(a, &s) == nil {
			return s
		}
	}
	return string(a)
}

// contentKinds says which part types a role accepts.
type contentKinds int

const (
	textOnly contentKinds = iota
	userParts
	assistantParts
)

// decodeContent accepts a string or an array of content parts. Empty text
// is dropped: several upstreams reject empty text blocks.
func decodeContent(param string, c gjson.Result, kinds contentKinds) ([]llm.Part, error) {
	if isNull(c) {
		return nil, nil
	}
	if c.Type == gjson.String {
		if c.Str == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: c.Str}}, nil
	}
	if !c.IsArray() {
		return nil, invalid(param, "%s must be a string or an array of content parts", param)
	}
	var out []llm.Part
	for i, p := range c.Array() {
		pp := idx(param, i)
		if !p.IsObject() {
			return nil, invalid(pp, "%s must be an object", pp)
		}
		typ, err := wantString(pp+".type", p.Get("type"))
		if err != nil {
			return nil, err
		}
		part, keep, err := decodePart(pp, typ, p, kinds)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, part)
		}
	}
	return out, nil
}

func decodePart(pp, typ string, p gjson.Result, kinds contentKinds) (llm.Part, bool, error) {
	switch {
	case typ == "text":
		s, err := wantString(pp+".text", p.Get("text"))
		return llm.Part{Type: llm.PartText, Text: s}, s != "", err
	case typ == "refusal" && kinds == assistantParts:
		s, err := wantString(pp+".refusal", p.Get("refusal"))
		return llm.Part{Type: llm.PartText, Text: s}, s != "", err
	case typ == "image_url" && kinds == userParts:
		iu := p.Get("image_url")
		var url, detail string
		var err error
		if iu.Type == gjson.String { // a common client shorthand
			url = iu.Str
		} else {
			if !iu.IsObject() {
				return llm.Part{}, false, invalid(pp+".image_url", "%s.image_url must be an object with a url", pp)
			}
			if url, err = wantString(pp+".image_url.url", iu.Get("url")); err != nil {
				return llm.Part{}, false, err
			}
			if d := iu.Get("detail"); !isNull(d) {
				if detail, err = wantString(pp+".image_url.detail", d); err != nil {
					return llm.Part{}, false, err
				}
			}
		}
		if url == "" {
			return llm.Part{}, false, invalid(pp+".image_url.url", "%s.image_url.url must not be empty", pp)
		}
		part := llm.Part{Type: llm.PartImage, Detail: detail}
		if mt, data, ok := parseDataURI(url); ok {
			part.MediaType, part.Data = mt, data
		} else {
			part.URL = url
		}
		return part, true, nil
	case typ == "input_audio" && kinds == userParts:
		ia := p.Get("input_audio")
		if !ia.IsObject() {
			return llm.Part{}, false, invalid(pp+".input_audio", "%s.input_audio must be an object", pp)
		}
		data, err := wantString(pp+".input_audio.data", ia.Get("data"))
		if err != nil {
			return llm.Part{}, false, err
		}
		format, err := wantString(pp+".input_audio.format", ia.Get("format"))
		if err != nil {
			return llm.Part{}, false, err
		}
		return llm.Part{Type: llm.PartAudio, Data: data, MediaType: audioMediaType(format)}, true, nil
	case typ == "file" && kinds == userParts:
		f := p.Get("file")
		if !f.IsObject() {
			return llm.Part{}, false, invalid(pp+".file", "%s.file must be an object", pp)
		}
		part := llm.Part{Type: llm.PartFile}
		var err error
		if v := f.Get("filename"); !isNull(v) {
			if part.FileName, err = wantString(pp+".file.filename", v); err != nil {
				return part, false, err
			}
		}
		if v := f.Get("file_data"); !isNull(v) {
			s, err := wantString(pp+".file.file_data", v)
			if err != nil {
				return part, false, err
			}
			if mt, data, ok := parseDataURI(s); ok {
				part.MediaType, part.Data = mt, data
			} else {
				part.Data = s
			}
		}
		if v := f.Get("file_id"); !isNull(v) {
			// A file id is a reference, not a fetchable URL; it rides in URL
			// and encoders of other formats must reject what they cannot resolve.
			if part.URL, err = wantString(pp+".file.file_id", v); err != nil {
				return part, false, err
			}
		}
		if part.Data == "" && part.URL == "" {
			return part, false, invalid(pp+".file", "%s.file needs file_data or file_id", pp)
		}
		return part, true, nil
	}
	return llm.Part{}, false, invalid(pp+".type", "%s.type %q is not supported in this message", pp, typ)
}

// audioMediaType maps OpenAI input_audio formats to media types and back.
func audioMediaType(format string) string {
	switch format {
	case "mp3":
		return "audio/mpeg"
	case "":
		return ""
	}
	return "audio/" + format
}

func audioFormat(mediaType string) string {
	switch mediaType {
	case "audio/mpeg", "audio/mp3":
		return "mp3"
	case "audio/x-wav", "audio/wave":
		return "wav"
	}
	return strings.TrimPrefix(mediaType, "audio/")
}

func decodeTools(v gjson.Result) ([]llm.Tool, error) {
	if !v.IsArray() {
		return nil, invalid("tools", "tools must be an array")
	}
	var out []llm.Tool
	for i, t := range v.Array() {
		p := idx("tools", i)
		if !t.IsObject() {
			return nil, invalid(p, "%s must be an object", p)
		}
		typ, err := wantString(p+".type", t.Get("type"))
		if err != nil {
			return nil, err
		}
		if typ != "function" {
			// Provider built-ins (custom, web_search, mcp, ...) pass to a
			// same-format upstream only.
			out = append(out, llm.Tool{Name: typ, Raw: json.RawMessage(t.Raw)})
			continue
		}
		fn := t.Get("function")
		if !fn.IsObject() {
			return nil, invalid(p+".function", "%s.function must be an object", p)
		}
		tool := llm.Tool{}
		if tool.Name, err = wantString(p+".function.name", fn.Get("name")); err != nil {
			return nil, err
		}
		if tool.Name == "" {
			return nil, invalid(p+".function.name", "%s.function.name must not be empty", p)
		}
		if d := fn.Get("description"); !isNull(d) {
			if tool.Description, err = wantString(p+".function.description", d); err != nil {
				return nil, err
			}
		}
		if ps := fn.Get("parameters"); !isNull(ps) {
			if !ps.IsObject() {
				return nil, invalid(p+".function.parameters", "%s.function.parameters must be a JSON Schema object", p)
			}
			tool.Parameters = json.RawMessage(ps.Raw)
		}
		if s := fn.Get("strict"); !isNull(s) {
			b, err := wantBool(p+".function.strict", s)
			if err != nil {
				return nil, err
			}
			tool.Strict = &b
		}
		out = append(out, tool)
	}
	return out, nil
}

func decodeToolChoice(v gjson.Result) (*llm.ToolChoice, error) {
	if v.Type == gjson.String {
		switch v.Str {
		case "auto":
			return &llm.ToolChoice{Mode: llm.ToolChoiceAuto}, nil
		case "none":
			return &llm.ToolChoice{Mode: llm.ToolChoiceNone}, nil
		case "required":
			return &llm.ToolChoice{Mode: llm.ToolChoiceRequired}, nil
		}
		return nil, invalid("tool_choice", "tool_choice %q is not one of auto, none, required", v.Str)
	}
	if !v.IsObject() {
		return nil, invalid("tool_choice", "tool_choice must be a string or an object")
	}
	if t := v.Get("type").String(); t != "function" {
		return nil, invalid("tool_choice.type", "tool_choice type %q is not supported; use a function choice", t)
	}
	name, err := wantString("tool_choice.function.name", v.Get("function.name"))
	if err != nil {
		return nil, err
	}
	return &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: name}, nil
}

func decodeResponseFormat(v gjson.Result) (*llm.ResponseFormat, error) {
	if !v.IsObject() {
		return nil, invalid("response_format", "response_format must be an object")
	}
	typ, err := wantString("response_format.type", v.Get("type"))
	if err != nil {
		return nil, err
	}
	switch llm.ResponseFormatType(typ) {
	case llm.FormatText, llm.FormatJSONObject:
		return &llm.ResponseFormat{Type: llm.ResponseFormatType(typ)}, nil
	case llm.FormatJSONSchema:
	default:
		return nil, invalid("response_format.type", "response_format.type %q is not one of text, json_object, json_schema", typ)
	}
	js := v.Get("json_schema")
	if !js.IsObject() {
		return nil, invalid("response_format.json_schema", "response_format.json_schema must be an object")
	}
	rf := &llm.ResponseFormat{Type: llm.FormatJSONSchema}
	if n := js.Get("name"); !isNull(n) {
		if rf.Name, err = wantString("response_format.json_schema.name", n); err != nil {
			return nil, err
		}
	}
	if d := js.Get("description"); !isNull(d) {
		if rf.Description, err = wantString("response_format.json_schema.description", d); err != nil {
			return nil, err
		}
	}
	if s := js.Get("schema"); !isNull(s) {
		if !s.IsObject() {
			return nil, invalid("response_format.json_schema.schema", "response_format.json_schema.schema must be an object")
		}
		rf.Schema = json.RawMessage(s.Raw)
	}
	if s := js.Get("strict"); !isNull(s) {
		b, err := wantBool("response_format.json_schema.strict", s)
		if err != nil {
			return nil, err
		}
		rf.Strict = &b
	}
	return rf, nil
}

// IncludeUsage reports whether a request decoded by DecodeRequest asked for
// the usage chunk (stream_options.include_usage), which StreamEncoder must
// only send to clients that asked for it.
func IncludeUsage(req *llm.Request) bool {
	if req == nil || req.SourceFormat != SourceFormat {
		return false
	}
	return gjson.GetBytes(req.Extra["stream_options"], "include_usage").Bool()
}

// ---------------------------------------------------------------------------
// Encoding: hub → an OpenAI-compatible upstream.
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
