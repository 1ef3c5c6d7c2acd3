package openai

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
)

// ResponsesSourceFormat is the llm.Request.SourceFormat of a request
// decoded from the Responses API. It differs from the chat format's so
// that no encoder re-emits the Responses fields kept in Extra (they are
// echoed in the answer, not sent upstream); opaque tokens carry their
// issuer on each part instead.
const ResponsesSourceFormat = "openai.responses"

// responsesEchoed are the request fields a Response object repeats; the
// decoder keeps them verbatim in Extra for the encoders of the answer.
var responsesEchoed = [...]string{
	"instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "reasoning", "metadata",
	"temperature", "top_p", "max_output_tokens", "previous_response_id", "store", "truncation",
	"user", "prompt_cache_key", "safety_identifier", "service_tier", "top_logprobs", "max_tool_calls", "background",
}

// DecodeResponsesRequest parses a Responses API request into the hub, for
// translation to an upstream of another kind. What the hub can carry is
// mapped (see docs/compatibility.md); what no other upstream can express —
// built-in, custom, namespace and tool_search tools, and the items they
// leave in a history — is refused with a 400 naming it, never dropped.
// Unknown top-level fields are not carried: they mean nothing to a
// translated upstream, and the pass-through path keeps them all.
func DecodeResponsesRequest(body []byte) (*llm.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, invalid("", "request body is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "request body must be a JSON object")
	}
	req := &llm.Request{SourceFormat: ResponsesSourceFormat}
	for _, k := range responsesEchoed {
		if v := root.Get(k); v.Exists() {
			setExtra(req, k, v)
		}
	}
	var err error
	var input, instructions gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		if isNull(v) {
			return true
		}
		switch k.Str {
		case "model":
			req.Model, err = wantString("model", v)
		case "input":
			input = v
		case "instructions":
			instructions = v
		case "stream":
			req.Stream, err = wantBool("stream", v)
		case "max_output_tokens":
			var n int64
			if n, err = wantInt(k.Str, v); err == nil {
				if n < 1 || n > 1<<31 {
					return invalidSet(&err, k.Str, "max_output_tokens is out of range")
				}
				m := int(n)
				req.MaxTokens = &m
			}
		case "temperature":
			var f float64
			if f, err = wantNumber(k.Str, v); err == nil {
				req.Temperature = &f
			}
		case "top_p":
			var f float64
			if f, err = wantNumber(k.Str, v); err == nil {
				req.TopP = &f
			}
		case "user", "safety_identifier":
			var s string
			if s, err = wantString(k.Str, v); err == nil && req.User == "" {
				req.User = s
			}
		case "metadata":
			err = decodeTopField(req, k.Str, v)
		case "parallel_tool_calls":
			var b bool
			if b, err = wantBool(k.Str, v); err == nil {
				req.ParallelToolCalls = &b
			}
		case "tools":
			req.Tools, err = decodeResponsesTools(v)
		case "tool_choice":
			req.ToolChoice, err = decodeResponsesToolChoice(v)
		case "text":
			req.ResponseFormat, err = decodeResponsesText(v)
		case "reasoning":
			req.Reasoning, err = decodeResponsesReasoning(v)
		case "background":
			if v.Type == gjson.True {
				return invalidSet(&err, k.Str, "background responses are not supported for this model: its upstream does not speak the Responses API")
			}
		case "conversation", "prompt":
			return invalidSet(&err, k.Str, "%s is not supported for this model: its upstream does not speak the Responses API", k.Str)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, invalid("model", "model is required")
	}
	if err := decodeInstructions(req, instructions); err != nil {
		return nil, err
	}
	if err := decodeInput(req, input); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, invalid("input", "input holds no message to answer")
	}
	return req, nil
}

// invalidSet sets *err to a 400 and stops a ForEach.
func invalidSet(err *error, param, format string, args ...any) bool {
	*err = invalid(param, format, args...)
	return false
}

func decodeInstructions(req *llm.Request, v gjson.Result) error {
	if isNull(v) {
		return nil
	}
	if v.Type == gjson.String {
		if v.Str != "" {
			req.System = append(req.System, llm.Part{Type: llm.PartText, Text: v.Str})
		}
		return nil
	}
	if !v.IsArray() {
		return invalid("instructions", "instructions must be a string")
	}
	// A Response's instructions may be input items (a reusable prompt's
	// messages): their text joins the system prompt.
	sub := &llm.Request{}
	if err := decodeItems(sub, "instructions", v); err != nil {
		return err
	}
	req.System = append(req.System, sub.System...)
	for _, m := range sub.Messages {
		for _, p := range m.Parts {
			if p.Type == llm.PartText {
				req.System = append(req.System, p)
			}
		}
	}
	return nil
}

func decodeInput(req *llm.Request, v gjson.Result) error {
	if isNull(v) {
		return nil
	}
	if v.Type == gjson.String {
		if v.Str != "" {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: v.Str}}})
		}
		return nil
	}
	if !v.IsArray() {
		return invalid("input", "input must be a string or an array of input items")
	}
	return decodeItems(req, "input", v)
}

// decodeItems appends input items to req: messages by role, reasoning and
// function calls to the assistant turn they belong to, outputs as tool
// results. System and developer messages join the system prompt, since
// Anthropic and Gemini keep it apart from the turns.
func decodeItems(req *llm.Request, param string, items gjson.Result) error {
	var err error
	i := -1
	items.ForEach(func(_, it gjson.Result) bool {
		i++
		err = decodeItem(req, idx(param, i), it)
		return err == nil
	})
	if err != nil {
		return err
	}
	for mi := range req.Messages {
		if req.Messages[mi].Role == llm.RoleAssistant {
			req.Messages[mi].Parts = placeResponsesTokens(req.Messages[mi].Parts)
		}
	}
	return nil
}

// assistant returns the assistant turn that items are being added to,
// opening one when the last message is not the assistant's.
func assistant(req *llm.Request) *llm.Message {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == llm.RoleAssistant {
		return &req.Messages[n-1]
	}
	req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant})
	return &req.Messages[len(req.Messages)-1]
}

func decodeItem(req *llm.Request, p string, it gjson.Result) error {
	if !it.IsObject() {
		return invalid(p, "%s must be an object", p)
	}
	typ := "message"
	if t := it.Get("type"); !isNull(t) {
		var err error
		if typ, err = wantString(p+".type", t); err != nil {
			return err
		}
	}
	switch typ {
	case "message":
		return decodeItemMessage(req, p, it)
	case "reasoning":
		return decodeItemReasoning(req, p, it)
	case "function_call":
		call, err := decodeItemCall(p, it)
		if err != nil {
			return err
		}
		m := assistant(req)
		m.Parts = append(m.Parts, call)
		return nil
	case "function_call_output":
		id, err := wantString(p+".call_id", it.Get("call_id"))
		if err != nil {
			return err
		}
		content, err := decodeCallOutput(p+".output", it.Get("output"))
		if err != nil {
			return err
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: id, Content: content}}})
		return nil
	}
	return invalid(p+".type", "input item type %q cannot be translated for this model: its upstream does not speak the Responses API", typ)
}

func decodeItemMessage(req *llm.Request, p string, it gjson.Result) error {
	role, err := wantString(p+".role", it.Get("role"))
	if err != nil {
		return err
	}
	parts, err := decodeItemContent(p+".content", it.Get("content"), role)
	if err != nil {
		return err
	}
	switch role {
	case "system", "developer":
		for _, part := range parts {
			if part.Type != llm.PartText {
				return invalid(p+".content", "a %s message holds text only", role)
			}
		}
		req.System = append(req.System, parts...)
	case "user":
		if len(parts) > 0 {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: parts})
		}
	case "assistant":
		m := assistant(req)
		m.Parts = append(m.Parts, parts...)
	default:
		return invalid(p+".role", "%s.role %q is not one of user, assistant, system, developer", p, role)
	}
	return nil
}

// decodeItemContent reads a message's content: a string, or input_text,
// input_image, input_file, output_text and refusal parts.
func decodeItemContent(p string, c gjson.Result, role string) ([]llm.Part, error) {
	return decodeParts(p, c, func(pp string, part gjson.Result) (llm.Part, bool, error) {
		return decodeContentPart(pp, part, role == "user")
	})
}

// decodeContentPart reads one content part; media only where user says
// they may be (user turns and tool outputs).
func decodeContentPart(pp string, part gjson.Result, media bool) (llm.Part, bool, error) {
	typ, err := objectType(pp, part)
	if err != nil {
		return llm.Part{}, false, err
	}
	switch {
	case typ == "input_text" || typ == "output_text" || typ == "text":
		s, err := wantString(pp+".text", part.Get("text"))
		return llm.Part{Type: llm.PartText, Text: s}, s != "", err
	case typ == "refusal":
		s, err := wantString(pp+".refusal", part.Get("refusal"))
		return llm.Part{Type: llm.PartText, Text: s}, s != "", err
	case typ == "input_image" && media:
		out := llm.Part{Type: llm.PartImage}
		if d := part.Get("detail"); !isNull(d) {
			if out.Detail, err = wantString(pp+".detail", d); err != nil {
				return out, false, err
			}
		}
		if fid := part.Get("file_id"); !isNull(fid) {
			return out, false, invalid(pp+".file_id", "%s.file_id refers to a file stored at OpenAI, which this model's upstream cannot read: send image_url (a URL or a data URI)", pp)
		}
		u, err := wantString(pp+".image_url", part.Get("image_url"))
		if err != nil {
			return out, false, err
		}
		if u == "" {
			return out, false, invalid(pp+".image_url", "%s.image_url must not be empty", pp)
		}
		if mt, data, ok := parseDataURI(u); ok {
			out.MediaType, out.Data = mt, data
		} else {
			out.URL = u
		}
		return out, true, nil
	case typ == "input_file" && media:
		out := llm.Part{Type: llm.PartFile}
		if v := part.Get("filename"); !isNull(v) {
			if out.FileName, err = wantString(pp+".filename", v); err != nil {
				return out, false, err
			}
		}
		if fid := part.Get("file_id"); !isNull(fid) {
			return out, false, invalid(pp+".file_id", "%s.file_id refers to a file stored at OpenAI, which this model's upstream cannot read: send file_data or file_url", pp)
		}
		if v := part.Get("file_data"); !isNull(v) {
			s, err := wantString(pp+".file_data", v)
			if err != nil {
				return out, false, err
			}
			if mt, data, ok := parseDataURI(s); ok {
				out.MediaType, out.Data = mt, data
			} else {
				out.Data = s
				if strings.HasSuffix(strings.ToLower(out.FileName), ".pdf") {
					out.MediaType = "application/pdf"
				}
			}
		} else if v := part.Get("file_url"); !isNull(v) {
			if out.URL, err = wantString(pp+".file_url", v); err != nil {
				return out, false, err
			}
		}
		if out.Data == "" && out.URL == "" {
			return out, false, invalid(pp, "%s needs file_data or file_url", pp)
		}
		return out, true, nil
	}
	return llm.Part{}, false, invalid(pp+".type", "%s.type %q is not supported here", pp, typ)
}

// decodeCallOutput reads a function_call_output's output: a string, or
// an array of input_text, input_image and input_file parts.
func decodeCallOutput(p string, v gjson.Result) ([]llm.Part, error) {
	if v.Type == gjson.String {
		return []llm.Part{{Type: llm.PartText, Text: v.Str}}, nil
	}
	if !v.IsArray() {
		return nil, invalid(p, "%s must be a string or an array of input_text and input_image parts", p)
	}
	var out []llm.Part
	for i, part := range v.Array() {
		got, keep, err := decodeContentPart(idx(p, i), part, true)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, got)
		}
	}
	return out, nil
}

func decodeItemCall(p string, it gjson.Result) (llm.Part, error) {
	id, err := wantString(p+".call_id", it.Get("call_id"))
	if err != nil {
		return llm.Part{}, err
	}
	name, err := wantString(p+".name", it.Get("name"))
	if err != nil {
		return llm.Part{}, err
	}
	if ns := it.Get("namespace"); !isNull(ns) {
		n, err := wantString(p+".namespace", ns)
		if err != nil {
			return llm.Part{}, err
		}
		name = NamespacedName(n, name)
	}
	args := ""
	if a := it.Get("arguments"); !isNull(a) {
		if args, err = wantString(p+".arguments", a); err != nil {
			return llm.Part{}, err
		}
	}
	return llm.Part{Type: llm.PartToolCall, ToolCallID: id, ToolName: name, Arguments: argumentsFromWire(args)}, nil
}

// decodeItemReasoning adds a reasoning item to the assistant turn: its
// summaries (or reasoning text) as thinking, encrypted_content as the
// token that proves it — OpenAI's own, or another provider's in the
// gateway's envelope, which placeResponsesTokens puts back in its slot.
func decodeItemReasoning(req *llm.Request, p string, it gjson.Result) error {
	var text strings.Builder
	for _, key := range []string{"summary", "content"} {
		arr := it.Get(key)
		if isNull(arr) {
			continue
		}
		if !arr.IsArray() {
			return invalid(p+"."+key, "%s.%s must be an array", p, key)
		}
		for i, s := range arr.Array() {
			t, err := wantString(idx(p+"."+key, i)+".text", s.Get("text"))
			if err != nil {
				return err
			}
			if text.Len() > 0 {
				text.WriteString("\n\n")
			}
			text.WriteString(t)
		}
		if text.Len() > 0 {
			break // content repeats what the summaries summarise
		}
	}
	part := llm.Part{Type: llm.PartReasoning, Text: text.String()}
	if ec := it.Get("encrypted_content"); !isNull(ec) {
		tok, err := wantString(p+".encrypted_content", ec)
		if err != nil {
			return err
		}
		iss, kind, raw := llm.OpenToken(tok, SourceFormat)
		switch kind {
		case llm.TokenRedacted:
			part = llm.Part{Type: llm.PartRedactedReasoning, Data: raw, Issuer: iss}
		case llm.TokenThinking, llm.TokenCall, llm.TokenText:
			part.Signature, part.Issuer = tok, llm.Issuer{} // placed with the turn
		default: // OpenAI's own encrypted reasoning, with its summary if any
			if part.Text != "" {
				part.Signature, part.Issuer = raw, iss
			} else {
				part = llm.Part{Type: llm.PartRedactedReasoning, Data: raw, Issuer: iss}
			}
		}
	}
	if part.Type == llm.PartReasoning && part.Text == "" && part.Signature == "" {
		return nil
	}
	m := assistant(req)
	m.Parts = append(m.Parts, part)
	return nil
}

// placeResponsesTokens moves the envelopes of a turn's reasoning items to
// their slots: a thinking signature stays on its reasoning part, a tool
// call's moves to the function call after it, a text part's to the text
// before it (see showResponsesTokens).
func placeResponsesTokens(parts []llm.Part) []llm.Part {
	out := parts[:0]
	var callSig *llm.Part
	for _, p := range parts {
		switch p.Type {
		case llm.PartReasoning:
			if p.Signature == "" || p.Issuer.Provider != "" {
				break
			}
			iss, kind, tok := llm.OpenToken(p.Signature, SourceFormat)
			switch kind {
			case llm.TokenCall:
				callSig = &llm.Part{Signature: tok, Issuer: iss}
				p.Signature = ""
			case llm.TokenText:
				for i := len(out) - 1; i >= 0; i-- {
					if out[i].Type == llm.PartText {
						out[i].Signature, out[i].Issuer = tok, iss
						break
					}
				}
				p.Signature = ""
			default:
				p.Signature, p.Issuer = tok, iss
			}
			if p.Signature == "" && p.Text == "" {
				continue // a carrier and nothing else
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

// decodeResponsesTools maps function tools. Every other tool type is
// refused by name: built-ins (web_search, file_search, ...) run at
// OpenAI, custom tools take free text under a grammar, namespace and
// tool_search tools defer functions — none of which a translated upstream
// can express faithfully.
func decodeResponsesTools(v gjson.Result) ([]llm.Tool, error) {
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
		switch typ {
		case "function":
			tool, err := decodeFunction(p, t)
			if err != nil {
				return nil, err
			}
			out = append(out, tool)
			continue
		case "namespace":
			// A namespace's functions are functions for any upstream, named
			// namespace__function (NamespacedName); the answer's calls get
			// their namespace back (see ResponsesStreamOptions).
			tools, err := decodeNamespace(p, t)
			if err != nil {
				return nil, err
			}
			out = append(out, tools...)
			continue
		}
		name := t.Get("name").String()
		if name == "" {
			name = typ
		}
		return nil, invalid(p, "tool %q (type %q) cannot be translated for this model: its upstream does not speak the Responses API and has no equivalent; use function tools", name, typ).WithCode("unsupported_tool")
	}
	return out, nil
}

// NamespacedName is the flat name a namespace's function goes by for an
// upstream without namespaces: "namespace__function".
func NamespacedName(namespace, name string) string { return namespace + "__" + name }

// maxToolName is the longest tool name every translated upstream takes
// (Anthropic and Gemini: 64 characters).
const maxToolName = 64

func decodeNamespace(p string, t gjson.Result) ([]llm.Tool, error) {
	ns, err := wantString(p+".name", t.Get("name"))
	if err != nil {
		return nil, err
	}
	if ns == "" || strings.Contains(ns, "__") {
		return nil, invalid(p+".name", "namespace %q cannot be translated for this model: its name must be non-empty and hold no \"__\"", ns)
	}
	desc := t.Get("description").Str
	var out []llm.Tool
	for j, fn := range t.Get("tools").Array() {
		fp := idx(p+".tools", j)
		if typ := fn.Get("type").Str; typ != "function" {
			return nil, invalid(fp, "tool %q (type %q) in namespace %q cannot be translated for this model: only function tools can be", fn.Get("name").Str, typ, ns).WithCode("unsupported_tool")
		}
		tool, err := decodeFunction(fp, fn)
		if err != nil {
			return nil, err
		}
		tool.Name = NamespacedName(ns, tool.Name)
		if len(tool.Name) > maxToolName {
			return nil, invalid(fp+".name", "tool %q is too long for this model's upstream once namespaced (%d > %d characters)", tool.Name, len(tool.Name), maxToolName)
		}
		if desc != "" {
			tool.Description = strings.TrimSpace(desc + "\n\n" + tool.Description)
		}
		out = append(out, tool)
	}
	if len(out) == 0 {
		return nil, invalid(p+".tools", "namespace %q has no tools", ns)
	}
	return out, nil
}

func decodeResponsesToolChoice(v gjson.Result) (*llm.ToolChoice, error) {
	if v.Type == gjson.String {
		return decodeToolChoice(v)
	}
	if !v.IsObject() {
		return nil, invalid("tool_choice", "tool_choice must be a string or an object")
	}
	switch t := v.Get("type").String(); t {
	case "function":
		name, err := wantString("tool_choice.name", v.Get("name"))
		if err != nil {
			return nil, err
		}
		return &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: name}, nil
	case "allowed_tools":
		// The subset restriction has no equivalent; its mode does.
		mode := v.Get("mode").String()
		if mode == "required" {
			return &llm.ToolChoice{Mode: llm.ToolChoiceRequired}, nil
		}
		return &llm.ToolChoice{Mode: llm.ToolChoiceAuto}, nil
	default:
		return nil, invalid("tool_choice.type", "tool_choice type %q cannot be translated for this model; use auto, none, required or a function", t)
	}
}

// decodeResponsesText maps text.format; text.verbosity has no slot in the
// other formats and is only echoed.
func decodeResponsesText(v gjson.Result) (*llm.ResponseFormat, error) {
	if !v.IsObject() {
		return nil, invalid("text", "text must be an object")
	}
	f := v.Get("format")
	if isNull(f) {
		return nil, nil
	}
	if !f.IsObject() {
		return nil, invalid("text.format", "text.format must be an object")
	}
	typ, err := wantString("text.format.type", f.Get("type"))
	if err != nil {
		return nil, err
	}
	switch llm.ResponseFormatType(typ) {
	case llm.FormatText:
		return nil, nil
	case llm.FormatJSONObject:
		return &llm.ResponseFormat{Type: llm.FormatJSONObject}, nil
	case llm.FormatJSONSchema:
	default:
		return nil, invalid("text.format.type", "text.format.type %q is not one of text, json_object, json_schema", typ)
	}
	rf := &llm.ResponseFormat{Type: llm.FormatJSONSchema}
	if n := f.Get("name"); !isNull(n) {
		if rf.Name, err = wantString("text.format.name", n); err != nil {
			return nil, err
		}
	}
	if d := f.Get("description"); !isNull(d) {
		if rf.Description, err = wantString("text.format.description", d); err != nil {
			return nil, err
		}
	}
	s := f.Get("schema")
	if !s.IsObject() {
		return nil, invalid("text.format.schema", "text.format.schema must be a JSON Schema object")
	}
	rf.Schema = json.RawMessage(s.Raw)
	if st := f.Get("strict"); !isNull(st) {
		b, err := wantBool("text.format.strict", st)
		if err != nil {
			return nil, err
		}
		rf.Strict = &b
	}
	return rf, nil
}

// decodeResponsesReasoning maps reasoning.effort and reasoning.summary:
// any effort but "none" enables thinking, and a summary other than
// "none" asks for the thoughts to be shown (Gemini includeThoughts;
// Anthropic shows them anyway).
func decodeResponsesReasoning(v gjson.Result) (*llm.Reasoning, error) {
	if !v.IsObject() {
		return nil, invalid("reasoning", "reasoning must be an object")
	}
	r := &llm.Reasoning{Enabled: true}
	if e := v.Get("effort"); !isNull(e) {
		s, err := wantString("reasoning.effort", e)
		if err != nil {
			return nil, err
		}
		r.Effort, r.Enabled = s, effortEnables(s)
	}
	for _, key := range []string{"summary", "generate_summary"} {
		s := v.Get(key)
		if isNull(s) {
			continue
		}
		sum, err := wantString("reasoning."+key, s)
		if err != nil {
			return nil, err
		}
		r.IncludeThoughts = sum != "none" && sum != ""
		r.HideThoughts = sum == "none"
		break
	}
	return r, nil
}
