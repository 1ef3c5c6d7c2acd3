package gateway

import (
	"context"
	"time"
)

// StoredResponse is what the gateway keeps of one Responses API answer so
// that a later call can continue from it (previous_response_id) on any
// upstream, and its key can read it back: the conversation's input items
// up to this response and the Response object the client saw. Both are
// sealed at rest.
type StoredResponse struct {
	ID        string // the Response's id, as its client saw it
	KeyID     int64  // only this key can read, continue or delete it
	Model     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Input is the JSON array of every input item the response answered
	// (earlier turns included); Response is the Response object.
	Input    []byte
	Response []byte
}

// ResponseStore keeps StoredResponses, shared by every node.
type ResponseStore interface {
	// PutResponse stores r (replacing one of the same key and id) and
	// keeps at most maxPerKey of the key's responses, dropping the oldest,
	// and none past its expiry.
	PutResponse(ctx context.Context, r StoredResponse, maxPerKey int) error
	// GetResponse returns the key's response id, or ErrNotFound (another
	// key's responses are not found either).
	GetResponse(ctx context.Context, keyID int64, id string) (StoredResponse, error)
	// DeleteResponse removes it, or reports ErrNotFound.
	DeleteResponse(ctx context.Context, keyID int64, id string) error
}
