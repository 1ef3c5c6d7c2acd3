package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// SourceFormat is the llm.Request.SourceFormat this package sets and honours.
const SourceFormat = "anthropic"

func invalid(param, format string, args ...any) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, format, args...).WithParam(param)
}

// DecodeRequest parses a client's /v1/messages body into the hub.
//
// max_tokens is optional here (the gateway supplies a default). Fields the
// hub has no slot for (service_tier, container, mcp_servers, ...) are kept
// verbatim in Extra; so are thinking configurations other than a plain
// {type: enabled, budget_tokens}, output_config and output_format, which are
// also mapped into the hub so other formats see their meaning.
func DecodeRequest(body []byte) (*llm.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, invalid("", "request body is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "request body must be a JSON object")
	}
	req := &llm.Request{SourceFormat: SourceFormat}
	var err error
	var effort string
	root.ForEach(func(k, v gjson.Result) bool {
		if v.Type == gjson.Null {
			return true // null means absent, as the official API treats it
		}
		switch k.Str {
		case "model":
			if v.Type != gjson.String {
				err = invalid("model", "model: expected a string")
				break
			}
			req.Model = v.Str
		case "system":
			req.System, err = decodeSystem(v)
		case "messages":
			req.Messages, err = decodeMessages(v)
		case "max_tokens":
			var n int
			if n, err = intField(v, "max_tokens"); err == nil {
				req.MaxTokens = &n
			}
		case "temperature":
			var f float64
			if f, err = numField(v, "temperature"); err == nil {
				req.Temperature = &f
			}
		case "top_p":
			var f float64
			if f, err = numField(v, "top_p"); err == nil {
				req.TopP = &f
			}
		case "top_k":
			var n int
			if n, err = intField(v, "top_k"); err == nil {
				req.TopK = &n
			}
		case "stop_sequences":
			req.Stop, err = stringArray(v, "stop_sequences")
		case "stream":
			if !v.IsBool() {
				err = invalid("stream", "stream: expected a boolean")
				break
			}
			req.Stream = v.Bool()
		case "tools":
			req.Tools, err = decodeTools(v)
		case "tool_choice":
			err = decodeToolChoice(v, req)
		case "thinking":
			err = decodeThinking(v, req)
		case "metadata":
			if !v.IsObject() {
				err = invalid("metadata", "metadata: expected an object")
				break
			}
			extraKeys := false
			v.ForEach(func(mk, mv gjson.Result) bool {
				if mk.Str == "user_id" && mv.Type == gjson.String {
					req.User = mv.Str
				} else {
					extraKeys = true
				}
				return true
			})
			if extraKeys {
				setExtra(req, k.Str, v)
			}
		case "output_format":
			// Beta structured outputs (structured-outputs-2025-11-13).
			if req.ResponseFormat, err = decodeOutputFormat(v, "output_format"); err == nil {
				setExtra(req, k.Str, v)
			}
		case "output_config":
			if !v.IsObject() {
				err = invalid("output_config", "output_config: expected an object")
				break
			}
			if f := v.Get("format"); f.Exists() && f.Type != gjson.Null {
				if req.ResponseFormat, err = decodeOutputFormat(f, "output_config.format"); err != nil {
					break
				}
			}
			effort = v.Get("effort").String()
			setExtra(req, k.Str, v)
		default:
			setExtra(req, k.Str, v)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, invalid("model", "model: field required")
	}
	if !root.Get("messages").Exists() {
		return nil, invalid("messages", "messages: field required")
	}
	if effort != "" {
		if req.Reasoning == nil {
			req.Reasoning = &llm.Reasoning{}
		}
		req.Reasoning.Effort = effort
	}
	return req, nil
}

func setExtra(req *llm.Request, key string, v gjson.Result) {
	if req.Extra == nil {
		req.Extra = make(map[string]json.RawMessage)
	}
	req.Extra[key] = rawBytes(v)
}

func numField(v gjson.Result, param string) (float64, error) {
	if v.Type != gjson.Number {
		return 0, invalid(param, "%s: expected a number", param)
	}
	return v.Num, nil
}

func intField(v gjson.Result, param string) (int, error) {
	if v.Type != gjson.Number || v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > math.MaxInt32 {
		return 0, invalid(param, "%s: expected an integer", param)
	}
	return int(v.Num), nil
}

func stringArray(v gjson.Result, param string) ([]string, error) {
	if v.Type == gjson.String {
		return []string{v.Str}, nil
	}
	if !v.IsArray() {
		return nil, invalid(param, "%s: expected an array of strings", param)
	}
	var out []string
	var err error
	v.ForEach(func(_, s gjson.Result) bool {
		if s.Type != gjson.String {
			err = invalid(param, "%s: expected an array of strings", param)
			return false
		}
		out = append(out, s.Str)
		return true
	})
	return out, err
}

func decodeSystem(v gjson.Result) ([]llm.Part, error) {
	if v.Type == gjson.String {
		if v.Str == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: v.Str}}, nil
	}
	if !v.IsArray() {
		return nil, invalid("system", "system: expected a string or an array of text blocks")
	}
	var parts []llm.Part
	var err error
	i := 0
	v.ForEach(func(_, b gjson.Result) bool {
		param := fmt.Sprintf("system[%d]", i)
		i++
		if !b.IsObject() || b.Get("type").String() != "text" {
			err = invalid(param, "%s: system blocks must be text blocks", param)
			return false
		}
		t := b.Get("text")
		if t.Type != gjson.String {
			err = invalid(param+".text", "%s.text: expected a string", param)
			return false
		}
		parts = append(parts, llm.Part{Type: llm.PartText, Text: t.Str, CacheControl: parseCacheControl(b.Get("cache_control"))})
		return true
	})
	return parts, err
}

func decodeMessages(v gjson.Result) ([]llm.Message, error) {
	if !v.IsArray() {
		return nil, invalid("messages", "messages: expected an array")
	}
	msgs := make([]llm.Message, 0, 4)
	var err error
	i := 0
	v.ForEach(func(_, m gjson.Result) bool {
		msgs, err = decodeMessage(msgs, m, i)
		i++
		return err == nil
	})
	return msgs, err
}

// decodeMessage appends one Anthropic message. tool_result blocks of a user
// turn become RoleTool messages, in order: [result, result, text] becomes a
// tool message with two results followed by a user message with the text.
func decodeMessage(msgs []llm.Message, m gjson.Result, i int) ([]llm.Message, error) {
	param := fmt.Sprintf("messages[%d]", i)
	if !m.IsObject() {
		return msgs, invalid(param, "%s: expected an object", param)
	}
	var role llm.Role
	switch r := m.Get("role"); r.String() {
	case "user":
		role = llm.RoleUser
	case "assistant":
		role = llm.RoleAssistant
	default:
		return msgs, invalid(param+".role", "%s.role: must be \"user\" or \"assistant\"", param)
	}
	content := m.Get("content")
	switch {
	case content.Type == gjson.String:
		return append(msgs, llm.Message{Role: role, Parts: []llm.Part{{Type: llm.PartText, Text: content.Str}}}), nil
	case content.IsArray():
	default:
		return msgs, invalid(param+".content", "%s.content: expected a string or an array of content blocks", param)
	}
	cur := llm.Message{Role: role}
	var err error
	j := 0
	content.ForEach(func(_, b gjson.Result) bool {
		bp := fmt.Sprintf("%s.content[%d]", param, j)
		j++
		if !b.IsObject() {
			err = invalid(bp, "%s: expected an object", bp)
			return false
		}
		if b.Get("type").String() == "tool_result" {
			if role != llm.RoleUser {
				err = invalid(bp, "%s: tool_result blocks belong in user messages", bp)
				return false
			}
			var p llm.Part
			if p, err = decodeToolResult(b, bp); err != nil {
				return false
			}
			if cur.Role != llm.RoleTool {
				if len(cur.Parts) > 0 {
					msgs = append(msgs, cur)
				}
				cur = llm.Message{Role: llm.RoleTool}
			}
			cur.Parts = append(cur.Parts, p)
			return true
		}
		var p llm.Part
		if p, err = decodeBlock(b, bp); err != nil {
			return false
		}
		if cur.Role == llm.RoleTool {
			msgs = append(msgs, cur)
			cur = llm.Message{Role: role}
		}
		cur.Parts = append(cur.Parts, p)
		return true
	})
	if err != nil {
		return msgs, err
	}
	if len(cur.Parts) > 0 || j == 0 {
		if role == llm.RoleAssistant {
			cur.Parts = placeTokens(cur.Parts)
		}
		msgs = append(msgs, cur)
	}
	return msgs, nil
}

// placeTokens reads the opaque tokens of a turn's thinking blocks (see
// llm.WrapToken). A bare signature or redacted_thinking blob was issued by
// Anthropic. An envelope names its issuer and the slot the token came
// from: a Gemini thoughtSignature of a functionCall goes back onto the
// tool call that follows its carrier block, one of a text part onto the
// text before it — where Gemini's own decoder puts them. It runs once per
// message and leaves already-placed parts (no envelope) as they are.
func placeTokens(parts []llm.Part) []llm.Part {
	out := parts[:0]
	var callSig *llm.Part // carries the pending tool call signature
	for _, p := range parts {
		switch p.Type {
		case llm.PartReasoning:
			if p.Signature == "" || p.Issuer.Provider != "" {
				break
			}
			iss, kind, tok := llm.OpenToken(p.Signature, SourceFormat)
			p.Signature, p.Issuer = tok, iss
			switch kind {
			case llm.TokenCall:
				callSig = &llm.Part{Signature: tok, Issuer: iss}
				p.Signature, p.Issuer = "", llm.Issuer{}
			case llm.TokenText:
				placed := false
				for i := len(out) - 1; i >= 0 && !placed; i-- {
					if out[i].Type == llm.PartText {
						out[i].Signature, out[i].Issuer = tok, iss
						placed = true
					}
				}
				if !placed {
					out = append(out, llm.Part{Type: llm.PartText, Signature: tok, Issuer: iss})
				}
				p.Signature, p.Issuer = "", llm.Issuer{}
			case llm.TokenRedacted:
				p = llm.Part{Type: llm.PartRedactedReasoning, Data: tok, Issuer: iss}
			}
			if p.Type == llm.PartReasoning && p.Signature == "" && p.Text == "" {
				continue // a carrier block and nothing else
			}
		case llm.PartRedactedReasoning:
			if p.Issuer.Provider == "" {
				iss, _, tok := llm.OpenToken(p.Data, SourceFormat)
				p.Data, p.Issuer = tok, iss
			}
		case llm.PartToolCall:
			if callSig != nil {
				p.Signature, p.Issuer = callSig.Signature, callSig.Issuer
				callSig = nil
			}
		}
		out = append(out, p)
	}
	return out
}

// decodeBlock converts one non-tool_result content block.
func decodeBlock(b gjson.Result, param string) (llm.Part, error) {
	cc := parseCacheControl(b.Get("cache_control"))
	switch typ := b.Get("type").String(); typ {
	case "text":
		t := b.Get("text")
		if t.Type != gjson.String {
			return llm.Part{}, invalid(param+".text", "%s.text: expected a string", param)
		}
		// citations are provenance of an earlier answer; the hub does not carry them.
		return llm.Part{Type: llm.PartText, Text: t.Str, CacheControl: cc}, nil
	case "image":
		p, err := decodeSource(b.Get("source"), param+".source", false)
		p.Type = llm.PartImage
		p.CacheControl = cc
		return p, err
	case "document":
		p, err := decodeSource(b.Get("source"), param+".source", true)
		p.Type = llm.PartFile
		p.FileName = b.Get("title").String()
		p.CacheControl = cc
		return p, err
	case "tool_use":
		id, name := b.Get("id"), b.Get("name")
		if id.Type != gjson.String || name.Type != gjson.String {
			return llm.Part{}, invalid(param, "%s: tool_use needs string id and name", param)
		}
		args := json.RawMessage("{}")
		if in := b.Get("input"); in.Exists() && in.Type != gjson.Null {
			if !in.IsObject() {
				return llm.Part{}, invalid(param+".input", "%s.input: expected an object", param)
			}
			args = rawBytes(in)
		}
		return llm.Part{Type: llm.PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: args, CacheControl: cc}, nil
	case "thinking":
		return llm.Part{Type: llm.PartReasoning, Text: b.Get("thinking").String(), Signature: b.Get("signature").String()}, nil
	case "redacted_thinking":
		d := b.Get("data")
		if d.Type != gjson.String {
			return llm.Part{}, invalid(param+".data", "%s.data: expected a string", param)
		}
		return llm.Part{Type: llm.PartRedactedReasoning, Data: d.Str}, nil
	case "":
		return llm.Part{}, invalid(param+".type", "%s.type: field required", param)
	default:
		// Server-tool blocks (server_tool_use, web_search_tool_result, ...),
		// search_result, container_upload: no hub slot, and no other format
		// could use them. Anthropic-to-Anthropic calls take the pass-through
		// path, which keeps them.
		return llm.Part{}, invalid(param+".type", "%s: content block type %q cannot be translated to another provider's format", param, typ)
	}
}

// decodeSource reads an image or document source.
func decodeSource(s gjson.Result, param string, document bool) (llm.Part, error) {
	if !s.IsObject() {
		return llm.Part{}, invalid(param, "%s: expected an object", param)
	}
	switch typ := s.Get("type").String(); typ {
	case "base64":
		return llm.Part{MediaType: s.Get("media_type").String(), Data: s.Get("data").String()}, nil
	case "url":
		u := s.Get("url")
		if u.Type != gjson.String || u.Str == "" {
			return llm.Part{}, invalid(param+".url", "%s.url: expected a string", param)
		}
		p := llm.Part{URL: u.Str}
		if document {
			p.MediaType = "application/pdf" // url documents are PDFs
		}
		return p, nil
	case "text":
		if document {
			// Plain-text documents travel as base64 like every other file.
			return llm.Part{MediaType: "text/plain", Data: base64.StdEncoding.EncodeToString([]byte(s.Get("data").String()))}, nil
		}
		fallthrough
	default:
		return llm.Part{}, invalid(param+".type", "%s: source type %q is not supported (use base64 or url)", param, typ)
	}
}

func decodeToolResult(b gjson.Result, param string) (llm.Part, error) {
	id := b.Get("tool_use_id")
	if id.Type != gjson.String {
		return llm.Part{}, invalid(param+".tool_use_id", "%s.tool_use_id: expected a string", param)
	}
	p := llm.Part{
		Type:         llm.PartToolResult,
		ToolCallID:   id.Str,
		IsError:      b.Get("is_error").Bool(),
		CacheControl: parseCacheControl(b.Get("cache_control")),
	}
	c := b.Get("content")
	switch {
	case !c.Exists() || c.Type == gjson.Null:
	case c.Type == gjson.String:
		p.Content = []llm.Part{{Type: llm.PartText, Text: c.Str}}
	case c.IsArray():
		var err error
		k := 0
		c.ForEach(func(_, cb gjson.Result) bool {
			cp := fmt.Sprintf("%s.content[%d]", param, k)
			k++
			if !cb.IsObject() {
				err = invalid(cp, "%s: expected an object", cp)
				return false
			}
			switch cb.Get("type").String() {
			case "text", "image", "document":
			default:
				err = invalid(cp+".type", "%s: tool_result content must be text, image or document blocks", cp)
				return false
			}
			var sub llm.Part
			if sub, err = decodeBlock(cb, cp); err != nil {
				return false
			}
			p.Content = append(p.Content, sub)
			return true
		})
		if err != nil {
			return llm.Part{}, err
		}
	default:
		return llm.Part{}, invalid(param+".content", "%s.content: expected a string or an array", param)
	}
	return p, nil
}

func decodeTools(v gjson.Result) ([]llm.Tool, error) {
	if !v.IsArray() {
		return nil, invalid("tools", "tools: expected an array")
	}
	var tools []llm.Tool
	var err error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		param := fmt.Sprintf("tools[%d]", i)
		i++
		if !t.IsObject() {
			err = invalid(param, "%s: expected an object", param)
			return false
		}
		name := t.Get("name")
		if typ := t.Get("type"); typ.Exists() && typ.Type != gjson.Null && typ.String() != "custom" {
			// A server tool (web_search_*, bash_*, text_editor_*, computer_*,
			// code_execution_*, mcp_toolset, ...): verbatim.
			tools = append(tools, llm.Tool{Name: name.String(), Raw: rawBytes(t)})
			return true
		}
		if name.Type != gjson.String || name.Str == "" {
			err = invalid(param+".name", "%s.name: field required", param)
			return false
		}
		tool := llm.Tool{
			Name:         name.Str,
			Description:  t.Get("description").String(),
			CacheControl: parseCacheControl(t.Get("cache_control")),
		}
		if s := t.Get("input_schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				err = invalid(param+".input_schema", "%s.input_schema: expected an object", param)
				return false
			}
			tool.Parameters = rawBytes(s)
		}
		if s := t.Get("strict"); s.IsBool() {
			strict := s.Bool()
			tool.Strict = &strict
		}
		tools = append(tools, tool)
		return true
	})
	return tools, err
}

func decodeToolChoice(v gjson.Result, req *llm.Request) error {
	if !v.IsObject() {
		return invalid("tool_choice", "tool_choice: expected an object")
	}
	tc := &llm.ToolChoice{}
	switch typ := v.Get("type").String(); typ {
	case "auto":
		tc.Mode = llm.ToolChoiceAuto
	case "any":
		tc.Mode = llm.ToolChoiceRequired
	case "none":
		tc.Mode = llm.ToolChoiceNone
	case "tool":
		tc.Mode = llm.ToolChoiceTool
		n := v.Get("name")
		if n.Type != gjson.String || n.Str == "" {
			return invalid("tool_choice.name", "tool_choice.name: required when type is \"tool\"")
		}
		tc.Name = n.Str
	default:
		return invalid("tool_choice.type", "tool_choice.type: must be auto, any, tool or none, not %q", typ)
	}
	if v.Get("disable_parallel_tool_use").Bool() {
		tc.DisableParallel = true
		f := false
		req.ParallelToolCalls = &f
	}
	req.ToolChoice = tc
	return nil
}

// decodeThinking maps the thinking config. Only the plain
// {type: enabled, budget_tokens} form is fully described by the hub; any
// other form (disabled, adaptive, display options) is also kept verbatim
// in Extra so an Anthropic upstream receives exactly what the client sent.
func decodeThinking(v gjson.Result, req *llm.Request) error {
	if !v.IsObject() {
		return invalid("thinking", "thinking: expected an object")
	}
	plain := true
	v.ForEach(func(k, _ gjson.Result) bool {
		if k.Str != "type" && k.Str != "budget_tokens" {
			plain = false
		}
		return plain
	})
	switch typ := v.Get("type").String(); typ {
	case "enabled":
		b := v.Get("budget_tokens")
		n, err := intField(b, "thinking.budget_tokens")
		if err != nil {
			return err
		}
		req.Reasoning = &llm.Reasoning{Enabled: true, BudgetTokens: n}
	case "disabled":
		req.Reasoning = &llm.Reasoning{}
		plain = false
	case "adaptive":
		req.Reasoning = &llm.Reasoning{Enabled: true}
		plain = false
	default:
		// An unknown future mode: the hub cannot describe it, keep it raw.
		plain = false
	}
	if !plain {
		setExtra(req, "thinking", v)
	}
	return nil
}

func decodeOutputFormat(v gjson.Result, param string) (*llm.ResponseFormat, error) {
	if !v.IsObject() {
		return nil, invalid(param, "%s: expected an object", param)
	}
	if t := v.Get("type").String(); t != "json_schema" {
		return nil, invalid(param+".type", "%s.type: must be \"json_schema\", not %q", param, t)
	}
	s := v.Get("schema")
	if !s.IsObject() {
		return nil, invalid(param+".schema", "%s.schema: expected an object", param)
	}
	return &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: rawBytes(s)}, nil
}
