package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

// Defaults of a Checkpointer.
const (
	DefaultCheckpointEvery  = time.Second
	DefaultCheckpointTokens = 512
)

// Checkpointer rate-limits one stream's checkpoints: Due says when one is
// worth writing, Save writes it. It is owned by the stream's goroutine.
type Checkpointer struct {
	w           *Writer
	every       time.Duration
	everyTokens int64
	last        time.Time
	lastTokens  int64
}

// NewCheckpointer returns a Checkpointer that checkpoints a stream after
// every period of every with new output, or sooner once everyTokens new
// tokens were delivered, but never more than four times per every. Zero
// values pick the defaults (1s, 512 tokens).
func (w *Writer) NewCheckpointer(start time.Time, every time.Duration, everyTokens int64) *Checkpointer {
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	if everyTokens <= 0 {
		everyTokens = DefaultCheckpointTokens
	}
	return &Checkpointer{w: w, every: every, everyTokens: everyTokens, last: start}
}

// Due reports whether a checkpoint should be saved now that the stream
// has delivered tokens output tokens in all.
func (c *Checkpointer) Due(now time.Time, tokens int64) bool {
	if tokens <= c.lastTokens {
		return false
	}
	gap := now.Sub(c.last)
	return gap >= c.every || (tokens-c.lastTokens >= c.everyTokens && gap >= c.every/4)
}

// Save spools rec as the stream's checkpoint (see Writer.Checkpoint) and
// remembers when and at how many tokens.
func (c *Checkpointer) Save(rec *gateway.UsageRecord, settle bool, now time.Time, tokens int64) error {
	if err := c.w.Checkpoint(rec, settle); err != nil {
		return err
	}
	c.last, c.lastTokens = now, tokens
	return nil
}

// NodeID returns the node id kept in the file at path, creating a random
// one on first use. It is stable across restarts of the node that owns
// the data directory, which is what lets the node release its own budget
// holds when it starts again; two nodes must not share a data directory.
func NodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if validNodeID(id) {
			return id, nil
		}
		return "", fmt.Errorf("node id file %s: invalid content (delete it to mint a new id)", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	id := "node-" + hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create node id: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return NodeID(path) // another process of this node won the race
	}
	if err != nil {
		return "", fmt.Errorf("create node id: %w", err)
	}
	_, werr := f.WriteString(id + "\n")
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr != nil || serr != nil {
		return "", fmt.Errorf("write node id: %w", errors.Join(werr, serr))
	}
	return id, nil
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
