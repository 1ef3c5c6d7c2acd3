package gemini

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// stopReason maps a Gemini finishReason. Gemini says STOP when the model
// called functions too, so the caller upgrades STOP to tool_use when the
// candidate holds functionCall parts. Gemini does not say whether a stop
// sequence matched: that is reported as end.
func stopReason(finish string, calledTools bool) llm.StopReason {
	switch finish {
	case "MAX_TOKENS":
		return llm.StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return llm.StopContentFilter
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		return llm.StopError
	}
	// STOP, OTHER, NO_IMAGE, IMAGE_OTHER, unspecified.
	if calledTools {
		return llm.StopToolUse
	}
	return llm.StopEnd
}

// finishReason maps a hub stop reason back to Gemini's enum.
func finishReason(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return "MAX_TOKENS"
	case llm.StopContentFilter, llm.StopRefusal:
		return "SAFETY"
	case llm.StopError:
		return "OTHER"
	}
	return "STOP"
}

// responseParts maps one candidate's content parts. nextCall numbers the
// calls without ids across the whole response.
func responseParts(parts []gjson.Result, nextCall *int) ([]llm.Part, bool) {
	var out []llm.Part
	called := false
	for _, r := range parts {
		p := parsePart(r)
		switch {
		case p.call.Exists():
			name, id, args := functionCall(p.call)
			if id == "" {
				id = mintCallID(name, *nextCall)
			}
			*nextCall++
			called = true
			out = append(out, llm.Part{Type: llm.PartToolCall, ToolCallID: id, ToolName: name, Arguments: args, Signature: p.signature})
		case p.inline.Exists():
			out = append(out, mediaPart(p.inline, true))
		case p.file.Exists():
			out = append(out, mediaPart(p.file, false))
		case p.exec.Exists() || p.result.Exists():
			out = append(out, llm.Part{Type: llm.PartText, Text: codeText(p)})
		case p.text.Exists() || p.signature != "":
			if p.text.Str == "" && p.signature == "" {
				continue
			}
			t := llm.PartText
			if p.thought {
				t = llm.PartReasoning
			}
			out = append(out, llm.Part{Type: t, Text: p.text.Str, Signature: p.signature})
		}
	}
	return out, called
}

// DecodeResponse converts a generateContent response from a Gemini
// upstream. A prompt blocked before generation (promptFeedback.blockReason
// and no candidates) becomes one empty choice stopped by content_filter.
// executableCode / codeExecutionResult parts become Markdown code text.
func DecodeResponse(body []byte) (*llm.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream returned a malformed Gemini response"}
	}
	root := gjson.ParseBytes(body)
	if root.IsArray() {
		// A JSON-array stream body: the relay asks for alt=sse, so this
		// means a misrouted call, not a response to decode.
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream returned a stream where a single response was expected"}
	}
	if !root.IsObject() {
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream returned a malformed Gemini response"}
	}
	if e := root.Get("error"); e.IsObject() {
		return nil, ParseUpstreamError(int(e.Get("code").Int()), body)
	}
	resp := &llm.Response{Issuer: llm.Issuer{Provider: "gemini"}}
	var cands, feedback gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch camel(k.Str) {
		case "candidates":
			cands = v
		case "promptFeedback":
			feedback = v
		case "usageMetadata":
			resp.Usage = UsageFromResult(v)
		case "modelVersion":
			resp.Model = v.String()
		case "responseId":
			resp.ID = v.String()
		case "createTime":
			if t, err := time.Parse(time.RFC3339Nano, v.String()); err == nil {
				resp.Created = t.Unix()
			}
		}
		return true
	})
	resp.Usage.WebSearchRequests, resp.Usage.GroundedPrompts = groundingCounts(cands)
	nextCall := 0
	for i, c := range cands.Array() {
		ch := llm.Choice{Index: i}
		var finish string
		var parts []gjson.Result
		c.ForEach(func(k, v gjson.Result) bool {
			switch camel(k.Str) {
			case "index":
				ch.Index = int(v.Int())
			case "finishReason":
				finish = v.String()
			case "content":
				parts = v.Get("parts").Array()
			}
			return true
		})
		var called bool
		ch.Parts, called = responseParts(parts, &nextCall)
		ch.StopReason = stopReason(finish, called)
		resp.Choices = append(resp.Choices, ch)
	}
	if len(resp.Choices) == 0 && feedback.Get("blockReason").String() != "" {
		resp.Choices = []llm.Choice{{StopReason: llm.StopContentFilter}}
	}
	return resp, nil
}

type outCandidate struct {
	Content      *outContent `json:"content,omitempty"`
	FinishReason string      `json:"finishReason,omitempty"`
	Index        int         `json:"index"`
}

type outResponse struct {
	Candidates     []outCandidate  `json:"candidates"`
	PromptFeedback json.RawMessage `json:"promptFeedback,omitempty"`
	UsageMetadata  *outUsage       `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

// EncodeResponse renders a hub response for a Gemini client. Tool calls
// keep their hub ids in functionCall.id, so a client that echoes them in
// functionResponse.id lets the next turn match exactly. Another provider's
// opaque tokens travel as thoughtSignature envelopes (llm.WrapToken): an
// Anthropic thinking signature on its thought part, a redacted_thinking
// blob as an empty thought part of its own, so the client's next turn can
// carry them back to their issuer.
func EncodeResponse(resp *llm.Response) ([]byte, error) {
	out := outResponse{
		Candidates:    make([]outCandidate, 0, len(resp.Choices)),
		UsageMetadata: usageOut(resp.Usage),
		ModelVersion:  resp.Model,
		ResponseID:    resp.ID,
	}
	for _, ch := range resp.Choices {
		parts, err := responsePartsOut(ch.Parts, resp.Issuer)
		if err != nil {
			return nil, err
		}
		cand := outCandidate{FinishReason: finishReason(ch.StopReason), Index: ch.Index}
		if len(parts) > 0 {
			cand.Content = &outContent{Role: "model", Parts: parts}
		}
		out.Candidates = append(out.Candidates, cand)
	}
	if len(resp.Choices) == 1 && resp.Choices[0].StopReason == llm.StopContentFilter && len(resp.Choices[0].Parts) == 0 {
		out.PromptFeedback = json.RawMessage(`{"blockReason":"SAFETY"}`)
	}
	return marshal(out)
}

func responsePartsOut(parts []llm.Part, issuer llm.Issuer) ([]outPart, error) {
	var out []outPart
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case llm.PartText:
			out = append(out, outPart{Text: ptr(p.Text), ThoughtSignature: llm.ShowToken(p, issuer, llm.TokenText, p.Signature, "gemini")})
		case llm.PartReasoning:
			out = append(out, outPart{Text: ptr(p.Text), Thought: true, ThoughtSignature: llm.ShowToken(p, issuer, llm.TokenThinking, p.Signature, "gemini")})
		case llm.PartRedactedReasoning:
			// Only in an envelope: a bare blob would read as Gemini's own.
			if sig := llm.ShowToken(p, issuer, llm.TokenRedacted, p.Data, "gemini"); sig != "" && sig != p.Data {
				out = append(out, outPart{Text: ptr(""), Thought: true, ThoughtSignature: sig})
			}
		case llm.PartToolCall:
			out = append(out, outPart{
				FunctionCall:     &outFunctionCall{ID: p.ToolCallID, Name: p.ToolName, Args: argsObject(p.Arguments)},
				ThoughtSignature: llm.ShowToken(p, issuer, llm.TokenCall, p.Signature, "gemini"),
			})
		case llm.PartImage, llm.PartAudio, llm.PartFile:
			switch {
			case p.Data != "":
				mime := p.MediaType
				if mime == "" {
					mime = sniffImageMIME(p.Data)
				}
				out = append(out, outPart{InlineData: &outBlob{MIMEType: mime, Data: p.Data}})
			case strings.HasPrefix(p.URL, "data:"):
				mp, err := mediaOut("", *p)
				if err != nil {
					return nil, err
				}
				out = append(out, mp)
			case p.URL != "":
				out = append(out, outPart{FileData: &outFileData{MIMEType: p.MediaType, FileURI: p.URL}})
			}
		}
	}
	return out, nil
}
