package httpapi

import (
	"net/http"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
)

// endpointRoute is one public endpoint: a pattern, the format its errors are
// written in, and its handler.
type endpointRoute struct {
	pattern string
	errors  errorWriter
	handle  handler
}

// routes is the public API. OpenAI and Anthropic clients configure their
// base URL with or without /v1: both work.
func (s *Server) routes() []endpointRoute {
	var rs []endpointRoute
	engine := func(method, path string, spec endpoint.Spec) {
		for _, prefix := range []string{"/v1", ""} {
			rs = append(rs, endpointRoute{method + " " + prefix + path, spec.WriteError, s.call(spec)})
		}
	}
	engine("POST", "/chat/completions", openai.Chat)
	engine("POST", "/embeddings", openai.Embeddings)
	engine("POST", "/messages", anthropic.Messages)
	engine("POST", "/messages/count_tokens", anthropic.CountTokens)
	rs = append(rs, s.responsesRoutes()...) // POST /responses is the engine's, with state around it
	engine("POST", "/images/generations", openai.ImageGenerations)
	engine("POST", "/images/edits", openai.ImageEdits)
	engine("POST", "/images/variations", openai.ImageVariations)
	engine("POST", "/audio/transcriptions", openai.Transcriptions)
	engine("POST", "/audio/translations", openai.Translations)
	engine("POST", "/audio/speech", openai.Speech)
	for _, prefix := range []string{"/v1", ""} {
		rs = append(rs, endpointRoute{"GET " + prefix + "/models", openai.WriteError, s.models})
	}
	// Gemini's model actions, POST /v1beta/models/{model}:{method}.
	rs = append(rs,
		endpointRoute{"POST /v1beta/models/{target}", gemini.WriteError, s.geminiAction},
		endpointRoute{"POST /v1/models/{target}", gemini.WriteError, s.geminiAction},
		endpointRoute{"GET /v1beta/models", gemini.WriteError, s.geminiListModels},
		endpointRoute{"GET /v1beta/models/{model}", gemini.WriteError, s.geminiGetModel},
		endpointRoute{"GET /v1/models/{model}", openai.WriteError, s.getModelEitherShape},
		endpointRoute{"GET /v1/media/{key}/{id}", openai.WriteError, s.media},
	)
	return rs
}

// geminiAction serves a model action by the spec its method names.
func (s *Server) geminiAction(w http.ResponseWriter, r *http.Request) error {
	target := r.PathValue("target")
	_, method, ok := gemini.SplitTarget(target)
	if !ok {
		return gateway.Errorf(gateway.KindNotFound, "unknown method for %q: want models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents", target)
	}
	spec, ok := gemini.Specs[method]
	if !ok {
		return gateway.Errorf(gateway.KindNotFound, "method %q is not supported: want generateContent, streamGenerateContent, countTokens, embedContent or batchEmbedContents", method)
	}
	return s.call(spec)(w, r)
}
