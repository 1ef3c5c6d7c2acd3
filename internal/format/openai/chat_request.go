package openai

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

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
		extraBody, google          gjson.Result
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
		case "extra_body", "google":
			// Vendor extensions chat UIs send for Gemini and Claude models;
			// mapped below, and kept in Extra for OpenAI-format upstreams.
			if k.Str == "extra_body" {
				extraBody = v
			} else {
				google = v
			}
			err = decodeTopField(req, k.Str, v)
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
	if !haveThinking && extraBody.IsObject() {
		if t := extraBody.Get("thinking"); t.Exists() {
			thinking, haveThinking = t, true
		}
	}
	if err := decodeReasoning(req, effort, haveEffort, thinking, haveThinking); err != nil {
		return nil, err
	}
	if !google.Exists() && extraBody.IsObject() {
		google = extraBody.Get("google")
	}
	if err := decodeGoogleThinking(req, google); err != nil {
		return nil, err
	}
	return req, nil
}

// decodeGoogleThinking maps the Gemini thinking controls that OpenAI-format
// chat UIs (Cherry Studio, LobeChat, ...) send for Gemini models, as
// Google's OpenAI-compatible endpoint documents them:
// extra_body.google.thinking_config (or a flattened top-level google)
// with thinking_budget (0 off, -1 dynamic), include_thoughts and
// thinking_level. They override reasoning_effort, as on Google's endpoint.
func decodeGoogleThinking(req *llm.Request, google gjson.Result) error {
	if !google.Exists() || isNull(google) {
		return nil
	}
	if !google.IsObject() {
		return invalid("google", "google must be an object")
	}
	tc := google.Get("thinking_config")
	if !tc.Exists() {
		tc = google.Get("thinkingConfig")
	}
	if !tc.Exists() || isNull(tc) {
		return nil
	}
	if !tc.IsObject() {
		return invalid("google.thinking_config", "google.thinking_config must be an object")
	}
	r := req.Reasoning
	if r == nil {
		r = &llm.Reasoning{Enabled: true}
	}
	field := func(snake, camel string) (gjson.Result, string) {
		if v := tc.Get(snake); v.Exists() {
			return v, "google.thinking_config." + snake
		}
		return tc.Get(camel), "google.thinking_config." + camel
	}
	if b, name := field("thinking_budget", "thinkingBudget"); b.Exists() && !isNull(b) {
		n, err := wantInt(name, b)
		if err != nil {
			return err
		}
		switch {
		case n == 0:
			r.Enabled, r.BudgetTokens = false, 0
		case n < 0: // -1: the model decides
			r.Enabled, r.BudgetTokens = true, 0
		case n > 1<<31:
			return invalid(name, "%s is out of range", name)
		default:
			r.Enabled, r.BudgetTokens = true, int(n)
		}
	}
	if l, name := field("thinking_level", "thinkingLevel"); l.Exists() && !isNull(l) {
		s, err := wantString(name, l)
		if err != nil {
			return err
		}
		r.Effort, r.Enabled = strings.ToLower(s), true
	}
	if inc, name := field("include_thoughts", "includeThoughts"); inc.Exists() && !isNull(inc) {
		b, err := wantBool(name, inc)
		if err != nil {
			return err
		}
		r.IncludeThoughts, r.HideThoughts = b, !b
	}
	req.Reasoning = r
	return nil
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
	if len(req.Messages) == 0 && len(req.System) == 0 {
		// Only system/developer messages without content: nothing would be
		// left to send (OpenAI itself requires their content).
		return invalid("messages", "messages hold no content: a system or developer message needs content")
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
	return decodeParts(param, c, func(pp string, p gjson.Result) (llm.Part, bool, error) {
		typ, err := objectType(pp, p)
		if err != nil {
			return llm.Part{}, false, err
		}
		return decodePart(pp, typ, p, kinds)
	})
}

// objectType reads the type of o, an element of a typed array (content
// parts, tools) that p names in errors: o must be an object whose "type"
// is a string.
func objectType(p string, o gjson.Result) (string, error) {
	if !o.IsObject() {
		return "", invalid(p, "%s must be an object", p)
	}
	return wantString(p+".type", o.Get("type"))
}

// decodeParts reads content that is a string (one text part; none when
// empty) or an array of parts, each read by part, which says whether to
// keep it. Chat and Responses content share the shape, not the part types.
func decodeParts(param string, c gjson.Result, part func(pp string, p gjson.Result) (llm.Part, bool, error)) ([]llm.Part, error) {
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
		got, keep, err := part(idx(param, i), p)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, got)
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
		typ, err := objectType(p, t)
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
		tool, err := decodeFunction(p+".function", fn)
		if err != nil {
			return nil, err
		}
		out = append(out, tool)
	}
	return out, nil
}

// decodeFunction reads a function tool's name, description, parameters
// and strict flag from fn (chat's tools[i].function, a Responses tool
// itself); p names fn in errors.
func decodeFunction(p string, fn gjson.Result) (llm.Tool, error) {
	tool := llm.Tool{}
	var err error
	if tool.Name, err = wantString(p+".name", fn.Get("name")); err != nil {
		return tool, err
	}
	if tool.Name == "" {
		return tool, invalid(p+".name", "%s.name must not be empty", p)
	}
	if d := fn.Get("description"); !isNull(d) {
		if tool.Description, err = wantString(p+".description", d); err != nil {
			return tool, err
		}
	}
	if ps := fn.Get("parameters"); !isNull(ps) {
		if !ps.IsObject() {
			return tool, invalid(p+".parameters", "%s.parameters must be a JSON Schema object", p)
		}
		tool.Parameters = json.RawMessage(ps.Raw)
	}
	if s := fn.Get("strict"); !isNull(s) {
		b, err := wantBool(p+".strict", s)
		if err != nil {
			return tool, err
		}
		tool.Strict = &b
	}
	return tool, nil
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
