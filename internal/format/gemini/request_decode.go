package gemini

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
)

// Decoding table: Gemini client → hub (DecodeRequest). Mappings not listed
// are one to one.
//
//	Gemini field                          hub
//	------------------------------------  ----------------------------------------------------------
//	contents[].role user/"" / function    RoleUser; functionResponse runs split out as RoleTool
//	contents[].role model                 RoleAssistant
//	text + thought:true                   PartReasoning (thoughtSignature → Signature)
//	thoughtSignature on text / call       Part.Signature of that text / tool_call part
//	inlineData / fileData                 image / audio / file part by MIME type (Data or URL)
//	functionCall without id               ToolCallID "call_<name>_<n>"
//	functionResponse                      tool_result paired with its call: by id, else by name
//	                                      and order (gemini-cli sends calls without ids and
//	                                      responses with ids it minted); Content text = compact
//	                                      JSON of response; IsError when its only key is "error";
//	                                      parts → media
//	thoughtSignature envelope             another provider's token the gateway showed this client
//	                                      (llm.WrapToken): Issuer and slot restored, an Anthropic
//	                                      redacted_thinking blob becomes redacted reasoning
//	executableCode, codeExecutionResult,  400: no other provider can take them (a Gemini channel
//	videoMetadata, toolCall, other parts  is served by pass-through, which never decodes)
//	partMetadata, mediaResolution         ignored (bookkeeping / resolution hint)
//	tools[].functionDeclarations          Tool; parameters (OpenAPI subset) converted to JSON
//	                                      Schema, parametersJsonSchema kept; response schemas and
//	                                      behavior dropped (describe output only / Live API)
//	tools[] googleSearch, codeExecution,  Tool.Raw (rejected by other formats' encoders)
//	urlContext, ...
//	toolConfig                            ToolChoice; VALIDATED, several allowedFunctionNames and
//	                                      retrievalConfig also kept whole in Extra["toolConfig"]
//	generationConfig                      the hub's sampling fields; responseMimeType/Schema →
//	                                      ResponseFormat; thinkingConfig → Reasoning (budget 0 =
//	                                      disabled, thinkingLevel → Effort); responseModalities →
//	                                      Modalities; anything else (speechConfig, imageConfig,
//	                                      text/x.enum ...) → Extra["generationConfig"]
//	safetySettings, cachedContent,        Extra (SourceFormat "gemini"), re-emitted only to Gemini
//	labels, other top-level fields

// wirePart is one Gemini Part with the fields this package understands,
// read in a single pass over the part's keys in either spelling.
type wirePart struct {
	text      gjson.Result
	thought   bool
	signature string

	inline, file gjson.Result
	call, resp   gjson.Result
	exec, result gjson.Result

	unsupported string // first key with no hub slot
}

func parsePart(r gjson.Result) wirePart {
	var p wirePart
	r.ForEach(func(k, v gjson.Result) bool {
		switch camel(k.Str) {
		case "text":
			p.text = v
		case "thought":
			p.thought = v.Bool()
		case "thoughtSignature":
			p.signature = v.String()
		case "inlineData":
			p.inline = v
		case "fileData":
			p.file = v
		case "functionCall":
			p.call = v
		case "functionResponse":
			p.resp = v
		case "executableCode":
			p.exec = v
		case "codeExecutionResult":
			p.result = v
		case "partMetadata", "mediaResolution":
			// Client bookkeeping and a resolution hint: neither changes
			// what the model is asked, and no other provider has a slot.
		default:
			if p.unsupported == "" {
				p.unsupported = camel(k.Str)
			}
		}
		return true
	})
	return p
}

// media reads an inlineData (Blob) or fileData object into a hub part.
func mediaPart(v gjson.Result, inline bool) llm.Part {
	var mime, data, uri, name string
	v.ForEach(func(k, val gjson.Result) bool {
		switch camel(k.Str) {
		case "mimeType":
			mime = val.String()
		case "data":
			data = val.String()
		case "fileUri":
			uri = val.String()
		case "displayName":
			name = val.String()
		}
		return true
	})
	p := llm.Part{MediaType: mime, FileName: name}
	if inline {
		p.Data = data
	} else {
		p.URL = uri
	}
	switch mediaKind(mime) {
	case "image":
		p.Type = llm.PartImage
	case "audio":
		p.Type = llm.PartAudio
	default:
		p.Type = llm.PartFile
	}
	return p
}

// functionCall reads name, args and id of a functionCall object.
func functionCall(v gjson.Result) (name, id string, args json.RawMessage) {
	v.ForEach(func(k, val gjson.Result) bool {
		switch camel(k.Str) {
		case "name":
			name = val.String()
		case "id":
			id = val.String()
		case "args":
			if val.IsObject() {
				args = compactRaw(val.Raw)
			}
		}
		return true
	})
	if args == nil {
		args = json.RawMessage("{}")
	}
	return name, id, args
}

// mintCallID names a function call that Gemini left without an id. It is
// deterministic (the n-th call of a request or response), so a decoded
// history always yields the same ids and results can be matched to calls.
func mintCallID(name string, n int) string {
	return "call_" + name + "_" + strconv.Itoa(n)
}

// codeText renders executableCode / codeExecutionResult parts of a model
// answer as Markdown text: no other format has a slot for them, and losing
// what the model ran would hide part of the answer.
func codeText(p wirePart) string {
	if p.exec.Exists() {
		lang := strings.ToLower(p.exec.Get("language").String())
		if lang == "" || lang == "language_unspecified" {
			lang = ""
		}
		return "```" + lang + "\n" + p.exec.Get("code").String() + "\n```\n"
	}
	out := p.result.Get("output").String()
	return "```\n" + out + "\n```\n"
}

// callRef and resultRef locate a decoded tool call or result, for
// pairing them once the whole history is read.
type callRef struct {
	name     string
	id       string
	msg, pos int // Messages[msg].Parts[pos]
	matched  bool
}

type resultRef struct {
	name     string
	id       string // as the client sent it; "" when none
	msg, pos int
}

type requestDecoder struct {
	req     *llm.Request
	calls   []callRef
	results []resultRef
}

// DecodeRequest converts a generateContent body into the hub. Unlike the
// other chat formats, Gemini names the model in the URL
// (/v1beta/models/{model}:generateContent), so the relay passes it in; the
// body's own "model" field, if any, is ignored. Stream is likewise decided
// by the URL method and left false here.
//
// Every field is accepted in both the REST camelCase spelling and the proto
// snake_case one (inline_data, mime_type, function_call, ...), which
// Google's own servers accept and several clients send. Keys inside user
// data (function args, function responses, schemas, labels) are never
// rewritten.
//
// Gemini function calls usually carry no id: calls without one get
// "call_<name>_<n>" (n counts the calls of the request from 0). Each
// functionResponse is then paired with a call, so ToolCallID lines up on
// both sides (OpenAI and Anthropic refuse a history where it does not): by
// id when the response's id is a call's, else with the first unanswered
// earlier call of the same name — gemini-cli sends the model's calls
// without ids and its responses with ids it minted itself.
// A functionResponse's response object becomes the tool result's text as
// compact JSON (the whole object: "output" and "error" keys included);
// a response whose only key is "error" marks the result as an error.
func DecodeRequest(model string, body []byte) (*llm.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, invalid("", "request body is not valid JSON")
	}
	// JSON text is UTF-8; Google rejects anything else, and letting invalid
	// bytes through would turn them into U+FFFD somewhere downstream.
	if !utf8.Valid(body) {
		return nil, invalid("", "request body is not valid UTF-8")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalid("", "request body must be a JSON object")
	}
	d := requestDecoder{req: &llm.Request{
		Model:        strings.TrimPrefix(model, "models/"),
		SourceFormat: "gemini",
	}}
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch key := camel(k.Str); key {
		case "contents":
			err = d.contents(v)
		case "systemInstruction":
			err = d.system(v)
		case "tools":
			err = d.tools(v)
		case "toolConfig":
			err = d.toolConfig(v)
		case "generationConfig":
			err = d.generationConfig(v)
		case "model":
			// The URL names the model; SDKs sometimes repeat it here.
		case "labels":
			d.extra(key, compactRaw(v.Raw)) // user-defined keys: kept as sent
		default:
			// safetySettings, cachedContent, serviceTier ...: no hub slot;
			// re-emitted only towards a Gemini upstream.
			d.extra(key, normalizeKeys(v))
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	d.pair()
	return d.req, nil
}

// pair gives every tool result the id of the call it answers: first the
// results whose id is a call's, then, by name and order, the rest (a
// response may only answer an earlier call). A result that answers no
// call keeps its own id, or gets a fresh one.
func (d *requestDecoder) pair() {
	done := make([]bool, len(d.results))
	for i, r := range d.results {
		if r.id == "" {
			continue
		}
		for k := range d.calls {
			if c := &d.calls[k]; !c.matched && c.id == r.id {
				c.matched, done[i] = true, true
				break
			}
		}
	}
	orphans := len(d.calls)
	for i, r := range d.results {
		if done[i] {
			continue
		}
		id := r.id
		for k := range d.calls {
			if c := &d.calls[k]; !c.matched && c.name == r.name && c.msg < r.msg {
				c.matched, id = true, c.id
				break
			}
		}
		if id == "" {
			id = mintCallID(r.name, orphans)
			orphans++
		}
		d.req.Messages[r.msg].Parts[r.pos].ToolCallID = id
	}
}

// openSignature reads a thoughtSignature the client sent: a bare one is
// Gemini's; an envelope restores the issuer and token of another
// provider's (an Anthropic redacted_thinking blob becomes redacted
// reasoning again).
func openSignature(p llm.Part) llm.Part {
	if p.Signature == "" {
		return p
	}
	iss, kind, tok := llm.OpenToken(p.Signature, "gemini")
	p.Signature, p.Issuer = tok, iss
	if kind == llm.TokenRedacted {
		return llm.Part{Type: llm.PartRedactedReasoning, Data: tok, Issuer: iss}
	}
	return p
}

func (d *requestDecoder) extra(key string, raw json.RawMessage) {
	if d.req.Extra == nil {
		d.req.Extra = make(map[string]json.RawMessage)
	}
	d.req.Extra[key] = raw
}

func (d *requestDecoder) contents(v gjson.Result) error {
	if !v.IsArray() {
		return invalid("contents", "contents must be an array of Content objects")
	}
	for i, c := range v.Array() {
		if !c.IsObject() {
			return invalid(fmt.Sprintf("contents[%d]", i), "contents[%d] must be an object", i)
		}
		var role string
		var parts gjson.Result
		c.ForEach(func(k, val gjson.Result) bool {
			switch camel(k.Str) {
			case "role":
				role = val.String()
			case "parts":
				parts = val
			}
			return true
		})
		if parts.Exists() && !parts.IsArray() {
			return invalid(fmt.Sprintf("contents[%d].parts", i), "contents[%d].parts must be an array", i)
		}
		var err error
		switch role {
		case "", "user", "function", "tool":
			// Old SDKs put functionResponse parts in role "function" turns.
			err = d.userContent(i, parts.Array())
		case "model", "assistant":
			err = d.modelContent(i, parts.Array())
		default:
			return invalid(fmt.Sprintf("contents[%d].role", i), "contents[%d].role must be \"user\" or \"model\", not %q", i, role)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// userContent splits a user turn into runs: functionResponse parts become
// RoleTool messages, everything else RoleUser messages, in order.
func (d *requestDecoder) userContent(i int, parts []gjson.Result) error {
	var cur *llm.Message
	push := func(role llm.Role, p llm.Part) {
		if cur == nil || cur.Role != role {
			d.req.Messages = append(d.req.Messages, llm.Message{Role: role})
			cur = &d.req.Messages[len(d.req.Messages)-1]
		}
		cur.Parts = append(cur.Parts, p)
	}
	for j, r := range parts {
		param := fmt.Sprintf("contents[%d].parts[%d]", i, j)
		p := parsePart(r)
		switch {
		case p.unsupported != "":
			return invalid(param, "%s: %q parts cannot be translated for this model's provider", param, p.unsupported)
		case p.exec.Exists() || p.result.Exists():
			return invalid(param, "%s: code execution parts cannot be translated for this model's provider", param)
		case p.resp.Exists():
			part, err := d.functionResponse(param, p.resp)
			if err != nil {
				return err
			}
			push(llm.RoleTool, part)
			d.results[len(d.results)-1].msg = len(d.req.Messages) - 1
			d.results[len(d.results)-1].pos = len(cur.Parts) - 1
		case p.call.Exists():
			return invalid(param, "%s: functionCall parts belong in \"model\" turns", param)
		default:
			part, ok, err := plainPart(param, p)
			if err != nil {
				return err
			}
			if ok {
				push(llm.RoleUser, openSignature(part))
			}
		}
	}
	return nil
}

// plainPart maps text, thought and media parts; ok is false for an empty
// text part that carries nothing.
func plainPart(param string, p wirePart) (llm.Part, bool, error) {
	switch {
	case p.inline.Exists():
		return mediaPart(p.inline, true), true, nil
	case p.file.Exists():
		return mediaPart(p.file, false), true, nil
	case p.text.Exists() || p.signature != "":
		if p.text.Exists() && p.text.Type != gjson.String {
			return llm.Part{}, false, invalid(param, "%s.text must be a string", param)
		}
		t := llm.PartText
		if p.thought {
			t = llm.PartReasoning
		}
		if p.text.Str == "" && p.signature == "" {
			return llm.Part{}, false, nil
		}
		return llm.Part{Type: t, Text: p.text.Str, Signature: p.signature}, true, nil
	}
	return llm.Part{}, false, invalid(param, "%s: part has no content", param)
}

func (d *requestDecoder) modelContent(i int, parts []gjson.Result) error {
	msg := llm.Message{Role: llm.RoleAssistant}
	for j, r := range parts {
		param := fmt.Sprintf("contents[%d].parts[%d]", i, j)
		p := parsePart(r)
		switch {
		case p.unsupported != "":
			return invalid(param, "%s: %q parts cannot be translated for this model's provider", param, p.unsupported)
		case p.exec.Exists() || p.result.Exists():
			return invalid(param, "%s: code execution parts cannot be translated for this model's provider", param)
		case p.resp.Exists():
			return invalid(param, "%s: functionResponse parts belong in \"user\" turns", param)
		case p.call.Exists():
			name, id, args := functionCall(p.call)
			if name == "" {
				return invalid(param, "%s.functionCall.name is required", param)
			}
			if id == "" {
				id = mintCallID(name, len(d.calls))
			}
			d.calls = append(d.calls, callRef{name: name, id: id, msg: len(d.req.Messages), pos: len(msg.Parts)})
			msg.Parts = append(msg.Parts, openSignature(llm.Part{
				Type: llm.PartToolCall, ToolCallID: id, ToolName: name,
				Arguments: args, Signature: p.signature,
			}))
		default:
			part, ok, err := plainPart(param, p)
			if err != nil {
				return err
			}
			if ok {
				msg.Parts = append(msg.Parts, openSignature(part))
			}
		}
	}
	if len(msg.Parts) > 0 {
		d.req.Messages = append(d.req.Messages, msg)
	}
	return nil
}

func (d *requestDecoder) functionResponse(param string, v gjson.Result) (llm.Part, error) {
	var name, id string
	var resp, parts gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch camel(k.Str) {
		case "name":
			name = val.String()
		case "id":
			id = val.String()
		case "response":
			resp = val
		case "parts":
			parts = val
		}
		return true
	})
	if name == "" {
		return llm.Part{}, invalid(param, "%s.functionResponse.name is required", param)
	}
	d.results = append(d.results, resultRef{name: name, id: id}) // located and paired later
	text := "{}"
	isErr := false
	if resp.IsObject() {
		text = string(compactRaw(resp.Raw))
		n := 0
		resp.ForEach(func(k, _ gjson.Result) bool { n++; isErr = k.Str == "error"; return true })
		isErr = isErr && n == 1
	}
	part := llm.Part{
		Type: llm.PartToolResult, ToolCallID: id, ToolName: name, IsError: isErr,
		Content: []llm.Part{{Type: llm.PartText, Text: text}},
	}
	for j, r := range parts.Array() {
		// Multimodal function responses (Gemini 3): inline or file media.
		pp := parsePart(r)
		switch {
		case pp.inline.Exists():
			part.Content = append(part.Content, mediaPart(pp.inline, true))
		case pp.file.Exists():
			part.Content = append(part.Content, mediaPart(pp.file, false))
		default:
			return llm.Part{}, invalid(fmt.Sprintf("%s.functionResponse.parts[%d]", param, j),
				"%s.functionResponse.parts[%d] must hold inlineData or fileData", param, j)
		}
	}
	return part, nil
}

func (d *requestDecoder) system(v gjson.Result) error {
	var parts gjson.Result
	switch {
	case v.Type == gjson.String:
		// Accepted by Google's servers as a shorthand for one text part.
		d.req.System = append(d.req.System, llm.Part{Type: llm.PartText, Text: v.Str})
		return nil
	case v.IsObject():
		parts = v.Get("parts")
	default:
		return invalid("systemInstruction", "systemInstruction must be a Content object")
	}
	for j, r := range parts.Array() {
		p := parsePart(r)
		if p.text.Type != gjson.String || p.inline.Exists() || p.file.Exists() || p.call.Exists() || p.resp.Exists() {
			return invalid(fmt.Sprintf("systemInstruction.parts[%d]", j), "systemInstruction parts must be text")
		}
		d.req.System = append(d.req.System, llm.Part{Type: llm.PartText, Text: p.text.Str})
	}
	return nil
}

func (d *requestDecoder) tools(v gjson.Result) error {
	if !v.IsArray() {
		return invalid("tools", "tools must be an array")
	}
	for i, t := range v.Array() {
		var err error
		t.ForEach(func(k, val gjson.Result) bool {
			key := camel(k.Str)
			if key != "functionDeclarations" {
				// googleSearch, codeExecution, urlContext ...: a built-in
				// tool, kept verbatim for a Gemini upstream.
				d.req.Tools = append(d.req.Tools, llm.Tool{
					Raw: json.RawMessage(`{"` + key + `":` + string(normalizeKeys(val)) + `}`),
				})
				return true
			}
			for j, fd := range val.Array() {
				var tool llm.Tool
				fd.ForEach(func(fk, fv gjson.Result) bool {
					switch camel(fk.Str) {
					case "name":
						tool.Name = fv.String()
					case "description":
						tool.Description = fv.String()
					case "parameters":
						if tool.Parameters == nil {
							tool.Parameters = openAPISchemaToJSONSchema(fv)
						}
					case "parametersJsonSchema":
						tool.Parameters = compactRaw(fv.Raw)
					}
					// response / responseJsonSchema / behavior only describe
					// the result to the model or apply to the Live API.
					return true
				})
				if tool.Name == "" {
					err = invalid(fmt.Sprintf("tools[%d].functionDeclarations[%d].name", i, j), "function declarations need a name")
					return false
				}
				d.req.Tools = append(d.req.Tools, tool)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// toolConfig maps functionCallingConfig to the hub's ToolChoice. What the
// hub cannot express exactly (VALIDATED, several allowedFunctionNames,
// retrievalConfig ...) is also kept whole in Extra["toolConfig"], which a
// Gemini upstream receives verbatim.
func (d *requestDecoder) toolConfig(v gjson.Result) error {
	if !v.IsObject() {
		return invalid("toolConfig", "toolConfig must be an object")
	}
	exact := true
	v.ForEach(func(k, val gjson.Result) bool {
		if camel(k.Str) != "functionCallingConfig" {
			exact = false
			return true
		}
		var mode string
		var names []string
		val.ForEach(func(fk, fv gjson.Result) bool {
			switch camel(fk.Str) {
			case "mode":
				mode = strings.ToUpper(fv.String())
			case "allowedFunctionNames":
				for _, n := range fv.Array() {
					names = append(names, n.String())
				}
			default:
				exact = false
			}
			return true
		})
		switch {
		case mode == "NONE":
			d.req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceNone}
		case mode == "ANY" && len(names) == 1:
			d.req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: names[0]}
		case mode == "ANY":
			d.req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceRequired}
			exact = exact && len(names) == 0
		case mode == "AUTO" || mode == "" || mode == "MODE_UNSPECIFIED":
			d.req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceAuto}
			exact = exact && len(names) == 0 && mode == "AUTO"
		default: // VALIDATED and future modes: the closest hub mode
			d.req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceAuto}
			exact = false
		}
		return true
	})
	if !exact {
		d.extra("toolConfig", normalizeKeys(v))
	}
	return nil
}

func (d *requestDecoder) generationConfig(v gjson.Result) error {
	if !v.IsObject() {
		return invalid("generationConfig", "generationConfig must be an object")
	}
	req := d.req
	var mime string
	var schema json.RawMessage
	var schemaRaw []string // original schema fields, kept if the MIME type is Gemini-only
	var rest []string      // leftover "key":value pairs
	var err error
	num := func(name string, val gjson.Result) bool {
		if val.Type != gjson.Number {
			err = invalid("generationConfig."+name, "generationConfig.%s must be a number", name)
			return false
		}
		return true
	}
	v.ForEach(func(k, val gjson.Result) bool {
		key := camel(k.Str)
		switch key {
		case "temperature", "topP", "presencePenalty", "frequencyPenalty":
			if !num(key, val) {
				return false
			}
			f := val.Float()
			switch key {
			case "temperature":
				req.Temperature = &f
			case "topP":
				req.TopP = &f
			case "presencePenalty":
				req.PresencePenalty = &f
			case "frequencyPenalty":
				req.FrequencyPenalty = &f
			}
		case "topK":
			if !num(key, val) {
				return false
			}
			n := int(val.Float())
			req.TopK = &n
		case "candidateCount":
			if !num(key, val) {
				return false
			}
			req.N = int(val.Int())
		case "maxOutputTokens":
			if !num(key, val) {
				return false
			}
			n := int(val.Int())
			req.MaxTokens = &n
		case "seed":
			if !num(key, val) {
				return false
			}
			s := val.Int()
			req.Seed = &s
		case "stopSequences":
			for _, s := range val.Array() {
				req.Stop = append(req.Stop, s.String())
			}
		case "responseModalities":
			for _, m := range val.Array() {
				req.Modalities = append(req.Modalities, strings.ToLower(m.String()))
			}
		case "responseMimeType":
			mime = val.String()
		case "responseJsonSchema":
			schema = compactRaw(val.Raw)
			schemaRaw = append(schemaRaw, `"responseJsonSchema":`+string(schema))
		case "responseSchema":
			if schema == nil {
				schema = openAPISchemaToJSONSchema(val)
			}
			schemaRaw = append(schemaRaw, `"responseSchema":`+string(normalizeKeys(val)))
		case "thinkingConfig":
			req.Reasoning = thinkingConfig(val)
		default:
			// speechConfig, mediaResolution, imageConfig, responseLogprobs ...
			rest = append(rest, strconv.Quote(key)+":"+string(normalizeKeys(val)))
		}
		return true
	})
	if err != nil {
		return err
	}
	switch {
	case mime == "application/json" && schema != nil:
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: schema}
	case mime == "application/json":
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONObject}
	case mime == "" && schema != nil:
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: schema}
	case mime == "text/plain":
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatText}
	case mime != "":
		// text/x.enum and other Gemini-only output types.
		rest = append(rest, `"responseMimeType":`+strconv.Quote(mime))
		rest = append(rest, schemaRaw...)
	}
	if len(rest) > 0 {
		d.extra("generationConfig", json.RawMessage("{"+strings.Join(rest, ",")+"}"))
	}
	return nil
}

// thinkingConfig maps Gemini's thinking settings: a budget of 0 disables
// thinking, -1 (or none) lets the model decide, thinkingLevel becomes the
// hub's Effort (lower-cased).
func thinkingConfig(v gjson.Result) *llm.Reasoning {
	r := &llm.Reasoning{Enabled: true}
	v.ForEach(func(k, val gjson.Result) bool {
		switch camel(k.Str) {
		case "thinkingBudget":
			switch b := val.Int(); {
			case b == 0:
				r.Enabled = false
			case b > 0:
				r.BudgetTokens = int(b)
			}
		case "includeThoughts":
			r.IncludeThoughts = val.Bool()
		case "thinkingLevel":
			if l := strings.ToLower(val.String()); l != "thinking_level_unspecified" {
				r.Effort = l
			}
		}
		return true
	})
	return r
}
