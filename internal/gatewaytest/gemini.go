package gatewaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Gemini scripts a fake Gemini generateContent upstream
// (POST /v1beta/models/{model}:generateContent and :streamGenerateContent).
// Streams are alt=sse ("data: {...}" chunks, each carrying usageMetadata,
// the last one finishReason) or, without alt=sse, one JSON array of chunks.
type Gemini struct {
	// Thought, when set, is answered first as a {text, thought: true} part.
	Thought string
	// ThoughtSignature goes on the first functionCall part, or on the last
	// text part when there are no calls (as Gemini does).
	ThoughtSignature string
	// Text is the answer, streamed as one chunk per space-separated word.
	Text string
	// ToolCalls follow the text as functionCall parts (ID is ignored: Gemini
	// has no call ids); Arguments must be a JSON object.
	ToolCalls []ToolCall
	// FinishReason overrides the finish reason (default STOP: Gemini uses
	// STOP for function calls too).
	FinishReason string
	// usageMetadata: prompt, candidates, cached content and thoughts tokens.
	PromptTokens, CandidatesTokens, CachedTokens, ThoughtsTokens int
	// Signatures, when set, are the only thoughtSignature values a request
	// may carry besides Google's validator-skip value (see Signatures).
	Signatures Signatures
}

// Handler returns the scripted behaviour as an http.HandlerFunc.
func (g Gemini) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if problem := geminiHistoryError(readAll(r), g.Signatures); problem != "" {
			GeminiError(http.StatusBadRequest, problem)(w, r)
			return
		}
		model, method := geminiTarget(r.URL.Path)
		switch method {
		case "generateContent":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(g.chunk(model, g.parts(), true))
		case "streamGenerateContent":
			g.stream(w, model, r.URL.Query().Get("alt") == "sse")
		default:
			GeminiError(http.StatusNotFound, "method not found")(w, r)
		}
	}
}

// geminiTarget splits ".../models/{model}:{method}".
func geminiTarget(path string) (model, method string) {
	i := strings.LastIndex(path, "/models/")
	if i < 0 {
		return "", ""
	}
	target := path[i+len("/models/"):]
	j := strings.LastIndexByte(target, ':')
	if j < 0 {
		return target, ""
	}
	return target[:j], target[j+1:]
}

func (g Gemini) parts() []map[string]any {
	var parts []map[string]any
	if g.Thought != "" {
		parts = append(parts, map[string]any{"text": g.Thought, "thought": true})
	}
	if g.Text != "" {
		parts = append(parts, map[string]any{"text": g.Text})
	}
	for _, tc := range g.ToolCalls {
		parts = append(parts, map[string]any{"functionCall": map[string]any{"name": tc.Name, "args": json.RawMessage(tc.Arguments)}})
	}
	g.sign(parts)
	return parts
}

// sign puts the thought signature where Gemini puts it.
func (g Gemini) sign(parts []map[string]any) {
	if g.ThoughtSignature == "" {
		return
	}
	for _, p := range parts {
		if _, ok := p["functionCall"]; ok {
			p["thoughtSignature"] = g.ThoughtSignature
			return
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if _, ok := parts[i]["text"]; ok && parts[i]["thought"] == nil {
			parts[i]["thoughtSignature"] = g.ThoughtSignature
			return
		}
	}
}

func (g Gemini) finishReason() string {
	if g.FinishReason != "" {
		return g.FinishReason
	}
	return "STOP"
}

// chunk is one GenerateContentResponse; final ones carry finishReason and
// the complete usage, earlier ones the prompt count only.
func (g Gemini) chunk(model string, parts []map[string]any, final bool) map[string]any {
	cand := map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}
	usage := map[string]any{"promptTokenCount": g.PromptTokens, "totalTokenCount": g.PromptTokens}
	if final {
		cand["finishReason"] = g.finishReason()
		usage = map[string]any{
			"promptTokenCount":     g.PromptTokens,
			"candidatesTokenCount": g.CandidatesTokens,
			"totalTokenCount":      g.PromptTokens + g.CandidatesTokens + g.ThoughtsTokens,
			"promptTokensDetails":  []any{map[string]any{"modality": "TEXT", "tokenCount": g.PromptTokens}},
		}
		if g.CachedTokens > 0 {
			usage["cachedContentTokenCount"] = g.CachedTokens
		}
		if g.ThoughtsTokens > 0 {
			usage["thoughtsTokenCount"] = g.ThoughtsTokens
		}
	}
	return map[string]any{"candidates": []any{cand}, "usageMetadata": usage, "modelVersion": model, "responseId": "fake-response-id"}
}

func (g Gemini) stream(w http.ResponseWriter, model string, sse bool) {
	// Split the answer: the thought, then the text word by word, then all
	// function calls in one chunk (Gemini never fragments call args).
	var chunks [][]map[string]any
	if g.Thought != "" {
		chunks = append(chunks, []map[string]any{{"text": g.Thought, "thought": true}})
	}
	if g.Text != "" {
		for _, word := range strings.SplitAfter(g.Text, " ") {
			chunks = append(chunks, []map[string]any{{"text": word}})
		}
	}
	if len(g.ToolCalls) > 0 {
		var calls []map[string]any
		for _, tc := range g.ToolCalls {
			calls = append(calls, map[string]any{"functionCall": map[string]any{"name": tc.Name, "args": json.RawMessage(tc.Arguments)}})
		}
		chunks = append(chunks, calls)
	}
	if len(chunks) == 0 {
		chunks = append(chunks, []map[string]any{{"text": ""}})
	}
	if g.ThoughtSignature != "" {
		if len(g.ToolCalls) > 0 {
			g.sign(chunks[len(chunks)-1])
		} else {
			// Streams send the signature on a trailing empty text part.
			chunks[len(chunks)-1] = append(chunks[len(chunks)-1], map[string]any{"text": "", "thoughtSignature": g.ThoughtSignature})
		}
	}
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i, parts := range chunks {
		b, _ := json.Marshal(g.chunk(model, parts, i == len(chunks)-1))
		var err error
		switch {
		case sse:
			_, err = fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		case i == 0:
			_, err = fmt.Fprintf(w, "[%s", b)
		default:
			_, err = fmt.Fprintf(w, ",\r\n%s", b)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
	if !sse {
		fmt.Fprint(w, "]")
		_ = rc.Flush()
	}
}

// geminiStatus is Google's canonical status name for an HTTP status.
func geminiStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// GeminiError answers every request with a Google-shaped error
// ({"error":{"code","message","status"}}).
func GeminiError(status int, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = readAll(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": message, "status": geminiStatus(status)}})
		_, _ = w.Write(b)
	}
}
