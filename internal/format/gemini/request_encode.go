package gemini

// Capability table: hub → Gemini generateContent (EncodeRequest). The
// integrator copies it into docs/compatibility.md.
//
//	hub feature                      Gemini upstream
//	-------------------------------  ---------------------------------------------------------------
//	Model                            not in the body: the relay puts it in the URL path
//	Stream                           not in the body: the relay calls :streamGenerateContent?alt=sse
//	System (text)                    systemInstruction.parts[].text; CacheControl ignored (Gemini
//	                                 caches implicitly)
//	user text / image / audio / file text, inlineData{mimeType,data}; a URL becomes fileData{fileUri}
//	                                 only for gs://, Gemini Files API and YouTube URIs; data: URLs
//	                                 become inlineData; other http(s) URLs → 400 "must be fetched
//	                                 first" (the relay fetches them through the SSRF guard before
//	                                 encoding; see NeedsFetch). Missing image MIME types are sniffed.
//	                                 Part.Detail ignored (no per-request equivalent)
//	assistant text                   role "model" text part, Signature → thoughtSignature
//	reasoning with Signature         {text, thought:true, thoughtSignature}
//	reasoning without Signature      dropped: Gemini discards past thoughts, only signatures matter
//	signatures of other issuers      dropped (llm.Request.TokenAllowed): a thoughtSignature is
//	                                 sent only to the Gemini channel that issued it; an Anthropic
//	                                 signature never becomes one (its thinking is then dropped)
//	redacted_reasoning               dropped: opaque data of another provider
//	tool_call                        functionCall{name,args}; Signature → thoughtSignature; ids are
//	                                 not sent (Gemini matches by name and order). A model turn with
//	                                 calls but no signature gets Google's documented validator-skip
//	                                 signature on its first call (histories from other models)
//	tool_call Arguments not object   emulated: args {"arguments": "<text>"}
//	tool_result                      role "user" functionResponse{name, response}: a JSON-object
//	                                 text is sent as the object, else {"output": text} or, for
//	                                 IsError, {"error": text}. The name comes from the matching
//	                                 tool_call (or Part.ToolName); results are reordered to follow
//	                                 call order. Images in results follow as inlineData parts
//	consecutive same-role turns      merged (tool results and user text share one "user" turn)
//	Tools (functions)                functionDeclarations[]; Parameters → parametersJsonSchema, the
//	                                 full JSON Schema dialect, so $schema/additionalProperties/$ref
//	                                 need no cleaning. Strict ignored
//	Tool.Raw                         re-emitted when SourceFormat=="gemini"; other providers'
//	                                 built-in tools → 400
//	ToolChoice                       auto→AUTO, none→NONE, required→ANY, tool→ANY+allowedFunctionNames
//	                                 (Extra["toolConfig"] from a Gemini client wins: VALIDATED etc.)
//	ParallelToolCalls / DisableParallel  ignored: Gemini has no switch
//	MaxTokens, Temperature, TopP,    maxOutputTokens, temperature, topP, topK, stopSequences,
//	TopK, Stop, N, penalties         candidateCount (N>1), presencePenalty, frequencyPenalty
//	Seed                             seed (int32: larger seeds reduced modulo 2^31)
//	ResponseFormat json_schema       responseMimeType application/json + responseJsonSchema (full
//	                                 JSON Schema, no cleaning); Name/Description/Strict ignored
//	ResponseFormat json_object/text  responseMimeType application/json / text/plain
//	Reasoning                        thinkingConfig: BudgetTokens → thinkingBudget; Effort → budget
//	                                 minimal/low 1024, medium 8192, high 24576 (thinkingLevel as sent
//	                                 by a Gemini client); disabled → thinkingBudget 0; includeThoughts
//	                                 true unless the client is a Gemini client that did not ask, or
//	                                 any client said include_thoughts: false (HideThoughts)
//	Modalities                       responseModalities upper-cased
//	Audio (OpenAI audio options)     400: voices and formats have no Gemini equivalent
//	User, Metadata                   ignored: no Gemini field
//	Extra                            re-emitted only when SourceFormat=="gemini"; Extra
//	                                 ["generationConfig"] merged into generationConfig

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"switchboard/internal/llm"
)

// skipSignature is the thoughtSignature value Google documents for function
// calls in histories that did not come from Gemini; Gemini 3 rejects
// function calls in the current turn without any signature.
const skipSignature = "skip_thought_signature_validator"

// maxSeed is the largest seed Gemini's int32 field holds.
const maxSeed = 1<<31 - 1

type outBlob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

type outFileData struct {
	MIMEType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type outFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type outFunctionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type outPart struct {
	Text             *string              `json:"text,omitempty"`
	Thought          bool                 `json:"thought,omitempty"`
	InlineData       *outBlob             `json:"inlineData,omitempty"`
	FileData         *outFileData         `json:"fileData,omitempty"`
	FunctionCall     *outFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *outFunctionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string               `json:"thoughtSignature,omitempty"`

	order int // call position of a functionResponse, for reordering
}

type outContent struct {
	Role  string    `json:"role,omitempty"`
	Parts []outPart `json:"parts"`
}

type outFunctionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type outThinking struct {
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
}

type outGenConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ResponseModalities []string        `json:"responseModalities,omitempty"`
	ThinkingConfig     *outThinking    `json:"thinkingConfig,omitempty"`
}

type outRequest struct {
	Contents          []outContent      `json:"contents"`
	SystemInstruction *outContent       `json:"systemInstruction,omitempty"`
	Tools             []json.RawMessage `json:"tools,omitempty"`
	ToolConfig        json.RawMessage   `json:"toolConfig,omitempty"`
	GenerationConfig  json.RawMessage   `json:"generationConfig,omitempty"`
}

// NeedsFetch reports whether req holds media by http(s) URL that Gemini
// cannot read itself. The relay downloads those (through its SSRF guard)
// into Part.Data before calling EncodeRequest, which rejects them otherwise.
func NeedsFetch(req *llm.Request) bool {
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if partNeedsFetch(p) {
				return true
			}
			for _, c := range p.Content {
				if partNeedsFetch(c) {
					return true
				}
			}
		}
	}
	return false
}

func partNeedsFetch(p llm.Part) bool {
	switch p.Type {
	case llm.PartImage, llm.PartAudio, llm.PartFile:
	default:
		return false
	}
	if p.Data != "" || p.URL == "" {
		return false
	}
	u := strings.ToLower(p.URL)
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return false
	}
	return !geminiReadableURL(p.URL)
}

// geminiReadableURL reports whether Gemini fetches the URI itself: Files
// API URIs and YouTube videos (gs:// is not http and handled by the caller).
func geminiReadableURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "generativelanguage.googleapis.com":
		return strings.Contains(u.Path, "/files/")
	case "www.youtube.com", "youtube.com", "youtu.be", "m.youtube.com":
		return true
	}
	return false
}

// EncodeRequest builds a generateContent body for a Gemini upstream. It
// returns the body only: the model goes into the URL path and the stream
// choice into the method (:streamGenerateContent?alt=sse), both the
// relay's business. See the capability table above for every mapping.
func EncodeRequest(req *llm.Request) ([]byte, error) {
	fromGemini := req.SourceFormat == "gemini"
	if len(req.Audio) > 0 && !fromGemini {
		return nil, invalid("audio", "audio output options cannot be sent to a Gemini model; use responseModalities")
	}
	var out outRequest
	var err error
	if out.Contents, err = encodeContents(req); err != nil {
		return nil, err
	}
	if len(req.System) > 0 {
		sys := &outContent{}
		for _, p := range req.System {
			if p.Type != llm.PartText {
				return nil, invalid("system", "system instructions to Gemini must be text, not %s", p.Type)
			}
			sys.Parts = append(sys.Parts, outPart{Text: ptr(p.Text)})
		}
		out.SystemInstruction = sys
	}
	if out.Tools, err = encodeTools(req.Tools, fromGemini); err != nil {
		return nil, err
	}
	if raw, ok := req.Extra["toolConfig"]; ok && fromGemini {
		out.ToolConfig = raw
	} else if out.ToolConfig, err = encodeToolChoice(req.ToolChoice); err != nil {
		return nil, err
	}
	if out.GenerationConfig, err = encodeGenConfig(req, fromGemini); err != nil {
		return nil, err
	}
	body, err := marshal(out)
	if err != nil {
		return nil, invalid("", "cannot encode request: %v", err)
	}
	if fromGemini {
		body = appendExtra(body, req.Extra, map[string]bool{
			"contents": true, "systemInstruction": true, "tools": true,
			"toolConfig": true, "generationConfig": true,
		})
	}
	return body, nil
}

func ptr[T any](v T) *T { return &v }

// appendExtra adds the keys of extra (sorted, for stable output) that the
// object obj does not already have.
func appendExtra(obj []byte, extra map[string]json.RawMessage, skip map[string]bool) []byte {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return obj
	}
	sort.Strings(keys)
	obj = obj[:len(obj)-1] // drop '}'
	empty := len(obj) == 1
	for _, k := range keys {
		if !empty {
			obj = append(obj, ',')
		}
		empty = false
		obj = strconv.AppendQuote(obj, k)
		obj = append(obj, ':')
		obj = append(obj, extra[k]...)
	}
	return append(obj, '}')
}

// signature returns p's thoughtSignature for this upstream: "" unless
// Gemini issued it for the channel req targets.
func signature(req *llm.Request, p *llm.Part) string {
	if p.Signature == "" || !req.TokenAllowed(p, "gemini") {
		return ""
	}
	return p.Signature
}

func encodeContents(req *llm.Request) ([]outContent, error) {
	msgs := req.Messages
	// Names and positions of every tool call, for functionResponse names
	// and ordering.
	type callInfo struct {
		name  string
		order int
	}
	calls := make(map[string]callInfo)
	n := 0
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type == llm.PartToolCall && p.ToolCallID != "" {
				calls[p.ToolCallID] = callInfo{name: p.ToolName, order: n}
				n++
			}
		}
	}
	var out []outContent
	for mi, m := range msgs {
		param := "messages[" + strconv.Itoa(mi) + "]"
		var role string
		var parts []outPart
		switch m.Role {
		case llm.RoleAssistant:
			role = "model"
			signed := false
			first := -1
			for pi := range m.Parts {
				p := &m.Parts[pi]
				pp := param + ".parts[" + strconv.Itoa(pi) + "]"
				switch p.Type {
				case llm.PartText:
					sig := signature(req, p)
					if p.Text == "" && sig == "" {
						continue // a text part that only carried another provider's signature
					}
					parts = append(parts, outPart{Text: ptr(p.Text), ThoughtSignature: sig})
				case llm.PartReasoning:
					if sig := signature(req, p); sig != "" {
						parts = append(parts, outPart{Text: ptr(p.Text), Thought: true, ThoughtSignature: sig})
						signed = true
					}
				case llm.PartRedactedReasoning:
				case llm.PartToolCall:
					if p.ToolName == "" {
						return nil, invalid(pp, "%s: tool call without a name", pp)
					}
					if first < 0 {
						first = len(parts)
					}
					sig := signature(req, p)
					signed = signed || sig != ""
					parts = append(parts, outPart{
						FunctionCall:     &outFunctionCall{Name: p.ToolName, Args: argsObject(p.Arguments)},
						ThoughtSignature: sig,
					})
				case llm.PartImage, llm.PartAudio, llm.PartFile:
					mp, err := mediaOut(pp, *p)
					if err != nil {
						return nil, err
					}
					parts = append(parts, mp)
				default:
					return nil, invalid(pp, "%s: %s parts cannot be sent in a Gemini model turn", pp, p.Type)
				}
			}
			if first >= 0 && !signed {
				parts[first].ThoughtSignature = skipSignature
			}
		case llm.RoleUser:
			role = "user"
			for pi := range m.Parts {
				p := &m.Parts[pi]
				pp := param + ".parts[" + strconv.Itoa(pi) + "]"
				switch p.Type {
				case llm.PartText:
					parts = append(parts, outPart{Text: ptr(p.Text), ThoughtSignature: signature(req, p)})
				case llm.PartImage, llm.PartAudio, llm.PartFile:
					mp, err := mediaOut(pp, *p)
					if err != nil {
						return nil, err
					}
					parts = append(parts, mp)
				case llm.PartReasoning, llm.PartRedactedReasoning:
					// Thinking belongs to model turns; nothing to carry.
				default:
					return nil, invalid(pp, "%s: %s parts cannot be sent in a Gemini user turn", pp, p.Type)
				}
			}
		case llm.RoleTool:
			role = "user"
			var media []outPart
			for pi, p := range m.Parts {
				pp := param + ".parts[" + strconv.Itoa(pi) + "]"
				if p.Type != llm.PartToolResult {
					if p.Type == llm.PartText {
						media = append(media, outPart{Text: ptr(p.Text)})
						continue
					}
					return nil, invalid(pp, "%s: tool messages hold tool results, not %s", pp, p.Type)
				}
				info, ok := calls[p.ToolCallID]
				name := info.name
				if name == "" {
					name = p.ToolName
				}
				if name == "" {
					return nil, invalid(pp, "%s: tool result %q matches no earlier tool call", pp, p.ToolCallID)
				}
				order := n
				if ok {
					order = info.order
				}
				resp, extra, err := functionResponseBody(pp, p)
				if err != nil {
					return nil, err
				}
				parts = append(parts, outPart{
					FunctionResponse: &outFunctionResponse{Name: name, Response: resp},
					order:            order,
				})
				media = append(media, extra...)
			}
			sort.SliceStable(parts, func(i, j int) bool { return parts[i].order < parts[j].order })
			parts = append(parts, media...)
		default:
			return nil, invalid(param+".role", "%s: role %q cannot be sent to Gemini", param, m.Role)
		}
		if len(parts) == 0 {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].Role == role {
			out[k].Parts = mergeParts(out[k].Parts, parts)
			continue
		}
		out = append(out, outContent{Role: role, Parts: parts})
	}
	if out == nil {
		out = []outContent{}
	}
	return out, nil
}

// mergeParts joins two turns of the same role. When both end/start with
// function responses (two tool messages in a row), the combined run is
// re-sorted into call order.
func mergeParts(a, b []outPart) []outPart {
	merged := append(a, b...)
	start := len(a)
	for start > 0 && merged[start-1].FunctionResponse != nil {
		start--
	}
	end := len(a)
	for end < len(merged) && merged[end].FunctionResponse != nil {
		end++
	}
	run := merged[start:end]
	sort.SliceStable(run, func(i, j int) bool { return run[i].order < run[j].order })
	return merged
}

// argsObject returns tool-call arguments as the JSON object Gemini needs.
// Models of other providers occasionally produce arguments that are not an
// object (or not JSON at all); those are wrapped as {"arguments": text}
// rather than failing the conversation.
func argsObject(args json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return json.RawMessage("{}")
	}
	if isObjectJSON(args) {
		return args
	}
	text := string(args)
	// Arguments held as a JSON string (OpenAI's wire shape) are unwrapped.
	var s string
	if json.Unmarshal(args, &s) == nil {
		if isObjectJSON([]byte(s)) {
			return compactRaw(s)
		}
		text = s
	}
	b, _ := marshal(map[string]string{"arguments": text})
	return b
}

// functionResponseBody builds functionResponse.response from a tool
// result: a result whose text is a JSON object is sent as that object
// (what a Gemini client sent in the first place); other text goes under
// "output", or "error" for failed calls, the keys Gemini documents. Media
// in the result is returned separately, as inlineData/fileData parts that
// follow the responses in the same turn (works on every Gemini model;
// functionResponse.parts needs Gemini 3).
func functionResponseBody(param string, p llm.Part) (json.RawMessage, []outPart, error) {
	var text strings.Builder
	var media []outPart
	for i, c := range p.Content {
		switch c.Type {
		case llm.PartText:
			text.WriteString(c.Text)
		case llm.PartImage, llm.PartAudio, llm.PartFile:
			mp, err := mediaOut(param+".content["+strconv.Itoa(i)+"]", c)
			if err != nil {
				return nil, nil, err
			}
			media = append(media, mp)
		default:
			return nil, nil, invalid(param, "%s: tool results to Gemini hold text and media, not %s", param, c.Type)
		}
	}
	s := text.String()
	if isObjectJSON([]byte(s)) {
		return compactRaw(s), media, nil
	}
	key := "output"
	if p.IsError {
		key = "error"
	}
	b, err := marshal(map[string]string{key: s})
	return b, media, err
}

// mediaOut maps an image/audio/file part to inlineData or fileData.
func mediaOut(param string, p llm.Part) (outPart, error) {
	mime := p.MediaType
	if p.Data != "" {
		if mime == "" && p.Type == llm.PartImage {
			mime = sniffImageMIME(p.Data)
		}
		if mime == "" {
			return outPart{}, invalid(param, "%s: Gemini needs the MIME type of inline %s data", param, p.Type)
		}
		return outPart{InlineData: &outBlob{MIMEType: mime, Data: p.Data}}, nil
	}
	u := p.URL
	switch {
	case u == "":
		return outPart{}, invalid(param, "%s: %s part has neither data nor URL", param, p.Type)
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(u[len("data:"):], ",")
		m, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 {
			return outPart{}, invalid(param, "%s: only base64 data: URLs are supported", param)
		}
		if m == "" {
			m = mime
		}
		if m == "" && p.Type == llm.PartImage {
			m = sniffImageMIME(data)
		}
		if m == "" {
			return outPart{}, invalid(param, "%s: data: URL without a MIME type", param)
		}
		return outPart{InlineData: &outBlob{MIMEType: m, Data: data}}, nil
	case strings.HasPrefix(u, "gs://"), geminiReadableURL(u):
		return outPart{FileData: &outFileData{MIMEType: mime, FileURI: u}}, nil
	}
	lu := strings.ToLower(u)
	if strings.HasPrefix(lu, "http://") || strings.HasPrefix(lu, "https://") {
		return outPart{}, invalid(param, "%s: image URLs must be fetched first: Gemini cannot read http(s) URLs", param)
	}
	return outPart{}, invalid(param, "%s: unsupported media URL scheme", param)
}

func encodeTools(tools []llm.Tool, fromGemini bool) ([]json.RawMessage, error) {
	var decls []outFunctionDecl
	var raws []json.RawMessage
	for i, t := range tools {
		if len(t.Raw) > 0 {
			if !fromGemini {
				return nil, invalid("tools["+strconv.Itoa(i)+"]", "built-in tools of another provider cannot be used with a Gemini model")
			}
			raws = append(raws, t.Raw)
			continue
		}
		d := outFunctionDecl{Name: t.Name, Description: t.Description}
		if len(t.Parameters) > 0 && string(t.Parameters) != "null" {
			d.ParametersJSONSchema = t.Parameters
		}
		decls = append(decls, d)
	}
	var out []json.RawMessage
	if len(decls) > 0 {
		b, err := marshal(struct {
			FunctionDeclarations []outFunctionDecl `json:"functionDeclarations"`
		}{decls})
		if err != nil {
			return nil, invalid("tools", "tool parameters are not valid JSON: %v", err)
		}
		out = append(out, b)
	}
	return append(out, raws...), nil
}

func encodeToolChoice(tc *llm.ToolChoice) (json.RawMessage, error) {
	if tc == nil {
		return nil, nil
	}
	var mode string
	var names []string
	switch tc.Mode {
	case llm.ToolChoiceAuto, "":
		mode = "AUTO"
	case llm.ToolChoiceNone:
		mode = "NONE"
	case llm.ToolChoiceRequired:
		mode = "ANY"
	case llm.ToolChoiceTool:
		mode = "ANY"
		names = []string{tc.Name}
	default:
		return nil, invalid("tool_choice", "tool choice %q cannot be sent to Gemini", tc.Mode)
	}
	return marshal(map[string]any{"functionCallingConfig": struct {
		Mode  string   `json:"mode"`
		Names []string `json:"allowedFunctionNames,omitempty"`
	}{mode, names}})
}

// effortBudget maps an OpenAI-style effort to a Gemini thinking budget.
func effortBudget(effort string) (int, bool) {
	switch effort {
	case "minimal", "low":
		return 1024, true
	case "medium":
		return 8192, true
	case "high", "xhigh":
		return 24576, true
	}
	return 0, false
}

func encodeGenConfig(req *llm.Request, fromGemini bool) (json.RawMessage, error) {
	g := outGenConfig{
		Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK,
		MaxOutputTokens: req.MaxTokens, StopSequences: req.Stop,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty,
	}
	if req.N > 1 {
		g.CandidateCount = req.N
	}
	if req.Seed != nil {
		s := *req.Seed
		if s > maxSeed || s < -maxSeed-1 {
			s %= maxSeed + 1
		}
		g.Seed = &s
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case llm.FormatJSONSchema:
			g.ResponseMIMEType = "application/json"
			g.ResponseJSONSchema = rf.Schema
		case llm.FormatJSONObject:
			g.ResponseMIMEType = "application/json"
		case llm.FormatText, "":
			g.ResponseMIMEType = "text/plain"
		default:
			return nil, invalid("response_format", "response format %q cannot be sent to Gemini", rf.Type)
		}
	}
	for _, m := range req.Modalities {
		g.ResponseModalities = append(g.ResponseModalities, strings.ToUpper(m))
	}
	if r := req.Reasoning; r != nil {
		t := &outThinking{}
		switch {
		case !r.Enabled:
			t.ThinkingBudget = ptr(0)
		case r.BudgetTokens > 0:
			t.ThinkingBudget = ptr(r.BudgetTokens)
		case r.Effort != "" && fromGemini:
			t.ThinkingLevel = strings.ToUpper(r.Effort)
		case r.Effort != "":
			b, ok := effortBudget(r.Effort)
			if !ok {
				return nil, invalid("reasoning_effort", "reasoning effort %q has no Gemini equivalent", r.Effort)
			}
			t.ThinkingBudget = ptr(b)
		}
		t.IncludeThoughts = r.Enabled && !r.HideThoughts && (r.IncludeThoughts || !fromGemini)
		if t.ThinkingBudget != nil || t.ThinkingLevel != "" || t.IncludeThoughts {
			g.ThinkingConfig = t
		}
	}
	b, err := marshal(g)
	if err != nil {
		return nil, invalid("", "cannot encode generation config: %v", err)
	}
	if rest, ok := req.Extra["generationConfig"]; ok && fromGemini {
		var fields map[string]json.RawMessage
		if json.Unmarshal(rest, &fields) == nil {
			var have map[string]json.RawMessage
			_ = json.Unmarshal(b, &have)
			skip := make(map[string]bool, len(have))
			for k := range have {
				skip[k] = true
			}
			b = appendExtra(b, fields, skip)
		}
	}
	if string(b) == "{}" {
		return nil, nil
	}
	return b, nil
}
