package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/upstream"
)

func (s *Server) openAIError(w http.ResponseWriter, r *http.Request) func(*gateway.Error) {
	return func(e *gateway.Error) { openai.WriteError(w, e, RequestID(r.Context())) }
}

// models lists exactly the models the caller's key may use, in OpenAI's
// shape, or Anthropic's when the caller sends anthropic-version.
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	secret := bearer(r)
	anthropicShape := r.Header.Get("Anthropic-Version") != ""
	if secret == "" {
		secret = r.Header.Get("X-Api-Key")
	}
	k, gerr := s.authenticate(r, secret)
	if gerr != nil {
		s.writeModelsError(w, r, gerr, anthropicShape)
		return
	}
	var ids []string
	for _, m := range s.Router.Models() {
		if modelAllowed(k, m) {
			ids = append(ids, m)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if anthropicShape {
		writeAnthropicModels(w, ids)
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: make([]model, 0, len(ids))}
	for _, id := range ids {
		out.Data = append(out.Data, model{ID: id, Object: "model", Created: modelsCreated, OwnedBy: "switchboard"})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// modelsCreated is a fixed timestamp: the gateway does not know when an
// upstream model was made, and a stable value keeps client caches calm.
var modelsCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func writeAnthropicModels(w http.ResponseWriter, ids []string) {
	type model struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	out := struct {
		Data    []model `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Data: make([]model, 0, len(ids))}
	for _, id := range ids {
		out.Data = append(out.Data, model{Type: "model", ID: id, DisplayName: id, CreatedAt: "2024-01-01T00:00:00Z"})
	}
	if len(ids) > 0 {
		out.FirstID, out.LastID = &ids[0], &ids[len(ids)-1]
	}
	_ = json.NewEncoder(w).Encode(out)
}

// openAIChat serves POST /v1/chat/completions.
func (s *Server) openAIChat(w http.ResponseWriter, r *http.Request) {
	writeErr := s.openAIError(w, r)
	k, gerr := s.authenticate(r, bearer(r))
	if gerr != nil {
		writeErr(gerr)
		return
	}
	body, gerr := s.readBody(w, r)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	// One pass vets the body and picks out what routing needs; the rest
	// of the body is never decoded on this path.
	var model, messages, stream, includeUsage, maxTokens gjson.Result
	if gerr := s.checkJSON(body, func(key string, raw []byte) {
		switch key {
		case "model":
			model = field(raw)
		case "messages":
			messages = field(raw)
		case "stream":
			stream = field(raw)
		case "stream_options":
			includeUsage = field(raw).Get("include_usage")
		case "max_tokens", "max_completion_tokens":
			maxTokens = field(raw)
		}
	}); gerr != nil {
		writeErr(gerr)
		return
	}
	if model.Type != gjson.String || model.Str == "" {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "you must provide a model parameter").WithParam("model").WithCode("missing_required_parameter"))
		return
	}
	if !messages.IsArray() {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "'messages' is a required property and must be an array").WithParam("messages").WithCode("missing_required_parameter"))
		return
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False && stream.Type != gjson.Null {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "'stream' must be a boolean").WithParam("stream"))
		return
	}
	release, gerr := s.admit(r, k, model.Str)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	defer release()
	call := s.newCall(r, upstream.FormatOpenAI, "chat.completions", k, body, model.Str, stream.Type == gjson.True)
	call.IncludeUsage = includeUsage.Type == gjson.True
	call.MaxTokens = maxTokens.Int()
	s.Relay.Chat(w, r, call, writeErr)
}

func (s *Server) writeModelsError(w http.ResponseWriter, r *http.Request, e *gateway.Error, anthropicShape bool) {
	if anthropicShape {
		if f, ok := errorWriters[upstream.FormatAnthropic]; ok {
			f(w, e, RequestID(r.Context()))
			return
		}
	}
	openai.WriteError(w, e, RequestID(r.Context()))
}

// errorWriters render errors per client format; formats register here.
var errorWriters = map[string]func(http.ResponseWriter, *gateway.Error, string){
	upstream.FormatOpenAI: openai.WriteError,
}
