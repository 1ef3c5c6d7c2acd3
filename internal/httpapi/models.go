package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
)

// modelsCreated is a fixed timestamp: the gateway does not know when an
// upstream model was made, and a stable value keeps client caches calm.
var modelsCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// allowedModels lists the routable models k may use.
func (s *Server) allowedModels(k *gateway.Key) []string {
	var ids []string
	for _, m := range s.Router.Models() {
		if k.Allows(m) {
			ids = append(ids, m)
		}
	}
	return ids
}

// writeJSON writes a small answer; encoding these plain structs cannot
// fail, and a client that hung up has nothing left to hear.
func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
	return nil
}

// models lists exactly the models the caller's key may use, in OpenAI's
// shape, Anthropic's when the caller sends anthropic-version, or Codex's
// when it sends client_version.
func (s *Server) models(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Anthropic-Version") != "" {
		return s.anthropicModels(w, r)
	}
	k, err := s.authenticate(r, openai.Chat.ClientKey(r))
	if err != nil {
		return err
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	ids := s.allowedModels(k)
	if r.URL.Query().Has("client_version") {
		return s.codexModels(w, ids, s.contextWindow)
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: make([]model, 0, len(ids))}
	for _, id := range ids {
		out.Data = append(out.Data, model{ID: id, Object: "model", Created: modelsCreated, OwnedBy: "switchboard"})
	}
	return writeJSON(w, out)
}

// anthropicModels answers GET /v1/models in Anthropic's shape, with its
// errors in that shape too.
func (s *Server) anthropicModels(w http.ResponseWriter, r *http.Request) error {
	k, err := s.authenticate(r, anthropic.Messages.ClientKey(r))
	if err != nil {
		anthropic.WriteError(w, gateway.AsError(err), RequestID(r.Context()))
		return nil
	}
	type model struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	ids := s.allowedModels(k)
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
	return writeJSON(w, out)
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
		SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"}}
}

func (s *Server) geminiListModels(w http.ResponseWriter, r *http.Request) error {
	k, err := s.authenticate(r, gemini.Generate.ClientKey(r))
	if err != nil {
		return err
	}
	out := struct {
		Models []geminiModel `json:"models"`
	}{Models: []geminiModel{}}
	for _, m := range s.allowedModels(k) {
		out.Models = append(out.Models, newGeminiModel(m))
	}
	return writeJSON(w, out)
}

func (s *Server) geminiGetModel(w http.ResponseWriter, r *http.Request) error {
	k, err := s.authenticate(r, gemini.Generate.ClientKey(r))
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.PathValue("model"), "models/")
	if !k.Allows(id) || !s.Router.HasModel(id) {
		return gateway.Errorf(gateway.KindNotFound, "model %q is not found", id)
	}
	return writeJSON(w, newGeminiModel(id))
}

// getModelEitherShape serves GET /v1/models/{id}: Gemini's shape for
// callers authenticating the Google way, OpenAI's otherwise.
func (s *Server) getModelEitherShape(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Get("key") != "" {
		if err := s.geminiGetModel(w, r); err != nil {
			gemini.WriteError(w, gateway.AsError(err), RequestID(r.Context()))
		}
		return nil
	}
	k, err := s.authenticate(r, openai.Chat.ClientKey(r))
	if err != nil {
		return err
	}
	id := r.PathValue("model")
	if !k.Allows(id) || !s.Router.HasModel(id) {
		return gateway.Errorf(gateway.KindNotFound, "the model %q does not exist", id).WithCode("model_not_found")
	}
	return writeJSON(w, map[string]any{"id": id, "object": "model", "created": modelsCreated, "owned_by": "switchboard"})
}

// contextWindow is a model's context window from the price table, 0 when
// unknown.
func (s *Server) contextWindow(model string) int64 {
	if s.Engine == nil {
		return 0
	}
	l, _ := s.Engine.Prices.Limits(model)
	return l.ContextWindow
}
