package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/tidwall/gjson"

	"switchboard/internal/format/anthropic"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

func init() {
	errorWriters[upstream.FormatAnthropic] = anthropic.WriteError
}

func (s *Server) mountAnthropic(mux *http.ServeMux) {
	for _, prefix := range []string{"/v1", ""} {
		mux.HandleFunc("POST "+prefix+"/messages", s.anthropicMessages)
		mux.HandleFunc("POST "+prefix+"/messages/count_tokens", s.anthropicCountTokens)
	}
}

// anthropicKey reads the key as Anthropic's SDKs send it (x-api-key), or as
// a Bearer token (Claude Code with ANTHROPIC_AUTH_TOKEN, other clients).
func anthropicKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	return bearer(r)
}

func (s *Server) anthropicError(w http.ResponseWriter, r *http.Request) func(*gateway.Error) {
	return func(e *gateway.Error) { anthropic.WriteError(w, e, RequestID(r.Context())) }
}

// anthropicMessages serves POST /v1/messages (also ?beta=true, which Claude
// Code sends; the query string passes through to Anthropic upstreams).
func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	writeErr := s.anthropicError(w, r)
	k, gerr := s.authenticate(r, anthropicKey(r))
	if gerr != nil {
		writeErr(gerr)
		return
	}
	body, gerr := s.readBody(w, r)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	var model, messages, stream, maxTokens gjson.Result
	if gerr := s.checkJSON(body, func(key string, raw []byte) {
		switch key {
		case "model":
			model = field(raw)
		case "messages":
			messages = field(raw)
		case "stream":
			stream = field(raw)
		case "max_tokens":
			maxTokens = field(raw)
		}
	}); gerr != nil {
		writeErr(gerr)
		return
	}
	if model.Type != gjson.String || model.Str == "" {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "model: field required").WithParam("model"))
		return
	}
	if !messages.IsArray() {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "messages: field required").WithParam("messages"))
		return
	}
	if maxTokens.Exists() && (maxTokens.Type != gjson.Number || maxTokens.Int() < 1) {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "max_tokens: must be a positive integer").WithParam("max_tokens"))
		return
	}
	release, gerr := s.admit(r, k, model.Str)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	defer release()
	call := s.newCall(r, upstream.FormatAnthropic, "messages", k, body, model.Str, stream.Type == gjson.True)
	call.MaxTokens = maxTokens.Int()
	s.Relay.Chat(w, r, call, writeErr)
}

// anthropicCountTokens serves POST /v1/messages/count_tokens. It counts
// with the embedded tokenizer over the request's text, tool definitions and
// system prompt: exact for no provider but the same everywhere, and free.
func (s *Server) anthropicCountTokens(w http.ResponseWriter, r *http.Request) {
	writeErr := s.anthropicError(w, r)
	k, gerr := s.authenticate(r, anthropicKey(r))
	if gerr != nil {
		writeErr(gerr)
		return
	}
	body, gerr := s.readBody(w, r)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	if gerr := s.checkJSON(body, nil); gerr != nil {
		writeErr(gerr)
		return
	}
	req, err := anthropic.DecodeRequest(body)
	if err != nil {
		writeErr(gateway.AsError(err))
		return
	}
	if !modelAllowed(k, req.Model) {
		writeErr(gateway.Errorf(gateway.KindPermission, "this key may not use model %q", req.Model))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int64{"input_tokens": CountRequestTokens(req)})
}

// CountRequestTokens estimates the prompt tokens of a hub request.
func CountRequestTokens(req *llm.Request) int64 {
	var c tokencount.Stream
	addParts := func(parts []llm.Part) {
		for _, p := range parts {
			c.WriteString(p.Text)
			c.Write(p.Arguments)
			for _, sub := range p.Content {
				c.WriteString(sub.Text)
			}
			switch p.Type {
			case llm.PartImage:
				c.Add(1600) // a typical 1024×1024 image, as providers bill it
			case llm.PartToolCall, llm.PartToolResult:
				c.Add(8)
			}
		}
	}
	addParts(req.System)
	for _, m := range req.Messages {
		c.Add(4) // role and framing
		addParts(m.Parts)
	}
	for _, t := range req.Tools {
		c.WriteString(t.Name)
		c.WriteString(t.Description)
		c.Write(t.Parameters)
		c.Write(t.Raw)
	}
	return c.Total()
}
