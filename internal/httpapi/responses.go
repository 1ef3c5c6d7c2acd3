package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/relay"
	"switchboard/internal/respstate"
)

// responsesRoutes are the Responses API's paths besides the engine's.
func (s *Server) responsesRoutes() []endpointRoute {
	var rs []endpointRoute
	for _, prefix := range []string{"/v1", ""} {
		rs = append(rs,
			endpointRoute{"POST " + prefix + "/responses", openai.WriteError, s.responsesCall(openai.Responses, true)},
			endpointRoute{"POST " + prefix + "/responses/input_tokens", openai.WriteError, s.responsesCall(openai.ResponsesInputTokens, false)},
			endpointRoute{"POST " + prefix + "/responses/compact", openai.WriteError, s.responsesCall(openai.ResponsesCompact, false)},
			endpointRoute{"GET " + prefix + "/responses", openai.WriteError, s.responsesSocket},
			endpointRoute{"GET " + prefix + "/responses/{id}", openai.WriteError, s.getResponse},
			endpointRoute{"DELETE " + prefix + "/responses/{id}", openai.WriteError, s.deleteResponse},
			endpointRoute{"GET " + prefix + "/responses/{id}/input_items", openai.WriteError, s.responseInputItems},
			endpointRoute{"POST " + prefix + "/responses/{id}/cancel", openai.WriteError, s.cancelResponse},
		)
	}
	return rs
}

// responsesCall is the engine's call with the conversation state around
// it: previous_response_id expanded before, and, for record, the answer
// kept as it ends.
func (s *Server) responsesCall(spec endpoint.Spec, record bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		k, err := s.authenticate(r, spec.ClientKey(r))
		if err != nil {
			return err
		}
		body, err := s.readBody(w, r, s.maxBody(spec))
		if err != nil {
			return err
		}
		defer body.Close()
		var turn *respstate.Turn
		if s.Responses != nil && body.JSON != nil {
			if turn, err = s.Responses.Begin(r.Context(), k, body.JSON, nil); err != nil {
				return err
			}
			body.JSON = turn.Body
		}
		p, err := spec.Peek(r, body)
		if err != nil {
			return err
		}
		c := &relay.Call{
			Spec: spec, Key: k, RequestID: RequestID(r.Context()), Start: time.Now(),
			Peek: p, Body: body, Header: r.Header, Query: r.URL.Query(),
		}
		// Codex's turn state comes back on the turn's answer; an upstream
		// that issues its own (relayed on pass-through) replaces it.
		if ts := r.Header.Get("X-Codex-Turn-State"); ts != "" {
			w.Header().Set("X-Codex-Turn-State", ts)
		}
		if turn == nil || !record {
			return s.Engine.Serve(r.Context(), w, c)
		}
		cw := turn.Writer(r.Context(), w)
		defer cw.Finish()
		return s.Engine.Serve(r.Context(), cw, c)
	}
}

// storedResponse reads the caller's response {id}: another key's is not
// found, like a missing one.
func (s *Server) storedResponse(r *http.Request) (gateway.StoredResponse, error) {
	k, err := s.authenticate(r, openai.Bearer(r))
	if err != nil {
		return gateway.StoredResponse{}, err
	}
	id := r.PathValue("id")
	if s.Responses == nil || s.Responses.Store == nil {
		return gateway.StoredResponse{}, responseNotFound(id)
	}
	rec, err := s.Responses.Store.GetResponse(r.Context(), k.ID, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return rec, responseNotFound(id)
	}
	if err != nil {
		return rec, &gateway.Error{Kind: gateway.KindUnavailable, Message: "the response store is unavailable", Err: err}
	}
	return rec, nil
}

func responseNotFound(id string) *gateway.Error {
	return gateway.Errorf(gateway.KindNotFound, "Response with id '%s' not found.", id).WithCode("not_found")
}

func writeRawJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.storedResponse(r)
	if err != nil {
		return err
	}
	writeRawJSON(w, rec.Response)
	return nil
}

func (s *Server) deleteResponse(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.storedResponse(r)
	if err != nil {
		return err
	}
	if err := s.Responses.Store.DeleteResponse(r.Context(), rec.KeyID, rec.ID); err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return &gateway.Error{Kind: gateway.KindUnavailable, Message: "the response store is unavailable", Err: err}
	}
	b, _ := json.Marshal(map[string]any{"id": rec.ID, "object": "response", "deleted": true})
	writeRawJSON(w, b)
	return nil
}

// cancelResponse: only background responses can be cancelled, and the
// gateway runs none (a background request is refused when created).
func (s *Server) cancelResponse(_ http.ResponseWriter, r *http.Request) error {
	if _, err := s.storedResponse(r); err != nil {
		return err
	}
	return gateway.Errorf(gateway.KindInvalidRequest, "Cannot cancel a response that was not created with background=true.").WithCode("invalid_request")
}

// responseInputItems lists the items a response answered, newest first
// unless order=asc, limit (1..100, default 20) at a time after an item id.
func (s *Server) responseInputItems(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.storedResponse(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return gateway.Errorf(gateway.KindInvalidRequest, "limit must be an integer between 1 and 100").WithParam("limit")
		}
		limit = n
	}
	order := q.Get("order")
	if order == "" {
		order = "desc"
	}
	if order != "asc" && order != "desc" {
		return gateway.Errorf(gateway.KindInvalidRequest, "order must be asc or desc").WithParam("order")
	}
	items := gjson.ParseBytes(rec.Input).Array()
	ids := make([]string, len(items))
	raws := make([]string, len(items))
	suffix := strings.TrimPrefix(rec.ID, "resp_")
	for i, it := range items {
		raw, id := it.Raw, it.Get("id").Str
		if id == "" {
			// Items a client sent without an id get a stable one.
			id = "item_" + suffix + "_" + strconv.Itoa(i)
			raw, _ = sjson.Set(raw, "id", id)
		}
		if !it.Get("type").Exists() {
			raw, _ = sjson.Set(raw, "type", "message")
		}
		ids[i], raws[i] = id, raw
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
		if order == "desc" {
			idx[i] = len(items) - 1 - i
		}
	}
	if after := q.Get("after"); after != "" {
		for j, i := range idx {
			if ids[i] == after {
				idx = idx[j+1:]
				break
			}
		}
	}
	more := len(idx) > limit
	if more {
		idx = idx[:limit]
	}
	b := []byte(`{"object":"list","data":[`)
	for j, i := range idx {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, raws[i]...)
	}
	b = append(b, ']')
	first, last := "", ""
	if len(idx) > 0 {
		first, last = ids[idx[0]], ids[idx[len(idx)-1]]
	}
	tail, _ := json.Marshal(map[string]any{"first_id": first, "last_id": last, "has_more": more})
	b = append(b, ',')
	b = append(b, tail[1:]...)
	writeRawJSON(w, b)
	return nil
}
