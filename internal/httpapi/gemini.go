package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/format/gemini"
	"switchboard/internal/gateway"
	"switchboard/internal/upstream"
)

func init() {
	errorWriters[upstream.FormatGemini] = gemini.WriteError
}

func (s *Server) mountGemini(mux *http.ServeMux) {
	// Go's mux cannot match "{model}:generateContent": route the whole
	// segment and split on the last colon.
	mux.HandleFunc("POST /v1beta/models/{target}", s.geminiModelAction)
	mux.HandleFunc("POST /v1/models/{target}", s.geminiModelAction)
	mux.HandleFunc("GET /v1beta/models", s.geminiListModels)
	mux.HandleFunc("GET /v1beta/models/{model}", s.geminiGetModel)
	mux.HandleFunc("GET /v1/models/{model}", s.getModelEitherShape)
}

// geminiKey reads the key as Google's clients send it: x-goog-api-key or
// ?key=, or a Bearer token.
func geminiKey(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	return bearer(r)
}

func (s *Server) geminiError(w http.ResponseWriter, r *http.Request) func(*gateway.Error) {
	return func(e *gateway.Error) { gemini.WriteError(w, e, RequestID(r.Context())) }
}

func (s *Server) geminiModelAction(w http.ResponseWriter, r *http.Request) {
	writeErr := s.geminiError(w, r)
	target := r.PathValue("target")
	i := strings.LastIndexByte(target, ':')
	if i <= 0 {
		writeErr(gateway.Errorf(gateway.KindNotFound, "unknown method for %q: want models/{model}:generateContent, :streamGenerateContent or :countTokens", target))
		return
	}
	model, method := target[:i], target[i+1:]
	switch method {
	case "generateContent", "streamGenerateContent", "countTokens":
	default:
		writeErr(gateway.Errorf(gateway.KindNotFound, "method %q is not supported: want generateContent, streamGenerateContent or countTokens", method))
		return
	}
	k, gerr := s.authenticate(r, geminiKey(r))
	if gerr != nil {
		writeErr(gerr)
		return
	}
	body, gerr := s.readBody(w, r)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	var contents []byte
	if gerr := s.checkJSON(body, func(key string, raw []byte) {
		if key == "contents" {
			contents = raw
		}
	}); gerr != nil {
		writeErr(gerr)
		return
	}
	if method == "countTokens" {
		s.geminiCountTokens(w, r, k, model, body)
		return
	}
	if !nonEmptyArray(contents) {
		writeErr(gateway.Errorf(gateway.KindInvalidRequest, "contents is not specified").WithParam("contents"))
		return
	}
	release, gerr := s.admit(r, k, model)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	defer release()
	stream := method == "streamGenerateContent"
	call := s.newCall(r, upstream.FormatGemini, method, k, body, model, stream)
	call.GeminiSSE = r.URL.Query().Get("alt") == "sse"
	call.MaxTokens = gjson.GetBytes(body, "generationConfig.maxOutputTokens").Int()
	if call.MaxTokens == 0 {
		call.MaxTokens = gjson.GetBytes(body, "generation_config.max_output_tokens").Int()
	}
	s.Relay.Chat(w, r, call, writeErr)
}

func (s *Server) geminiCountTokens(w http.ResponseWriter, r *http.Request, k *gateway.Key, model string, body []byte) {
	writeErr := s.geminiError(w, r)
	if !modelAllowed(k, model) {
		writeErr(gateway.Errorf(gateway.KindPermission, "this key may not use model %q", model))
		return
	}
	// countTokens wraps either a bare {contents} or a full
	// {generateContentRequest}.
	inner := body
	if g := gjson.GetBytes(body, "generateContentRequest"); g.IsObject() {
		inner = []byte(g.Raw)
	}
	req, err := gemini.DecodeRequest(model, inner)
	if err != nil {
		writeErr(gateway.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int64{"totalTokens": CountRequestTokens(req)})
}

type geminiModel struct {
	Name                       string   `json:"name"`
	BaseModelID                string   `json:"baseModelId"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

func newGeminiModel(id string) geminiModel {
	return geminiModel{Name: "models/" + id, BaseModelID: id, Version: "001", DisplayName: id,
		SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"}}
}

func (s *Server) geminiListModels(w http.ResponseWriter, r *http.Request) {
	k, gerr := s.authenticate(r, geminiKey(r))
	if gerr != nil {
		s.geminiError(w, r)(gerr)
		return
	}
	out := struct {
		Models []geminiModel `json:"models"`
	}{Models: []geminiModel{}}
	for _, m := range s.Router.Models() {
		if modelAllowed(k, m) {
			out.Models = append(out.Models, newGeminiModel(m))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) geminiGetModel(w http.ResponseWriter, r *http.Request) {
	writeErr := s.geminiError(w, r)
	k, gerr := s.authenticate(r, geminiKey(r))
	if gerr != nil {
		writeErr(gerr)
		return
	}
	id := strings.TrimPrefix(r.PathValue("model"), "models/")
	if !modelAllowed(k, id) || !s.Router.HasModel(id) {
		writeErr(gateway.Errorf(gateway.KindNotFound, "model %q is not found", id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(newGeminiModel(id))
}

// getModelEitherShape serves GET /v1/models/{id}: Gemini's shape for
// callers authenticating the Google way, OpenAI's otherwise.
func (s *Server) getModelEitherShape(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Get("key") != "" {
		s.geminiGetModel(w, r)
		return
	}
	writeErr := s.openAIError(w, r)
	secret := bearer(r)
	if secret == "" {
		secret = r.Header.Get("X-Api-Key")
	}
	k, gerr := s.authenticate(r, secret)
	if gerr != nil {
		writeErr(gerr)
		return
	}
	id := r.PathValue("model")
	if !modelAllowed(k, id) || !s.Router.HasModel(id) {
		writeErr(gateway.Errorf(gateway.KindNotFound, "the model %q does not exist", id).WithCode("model_not_found"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "model", "created": modelsCreated, "owned_by": "switchboard"})
}
