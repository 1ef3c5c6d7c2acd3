package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewRequestID returns a request id: "req_" and 24 hex digits, the first
// twelve the time in milliseconds, the rest random. Time first, so ids of
// calls made close together sort together: the ledger's unique index on
// request ids then takes each batch's inserts on a few pages instead of
// one random page per record (measured: ~13 µs per record against ~40–60
// with fully random ids, docs/performance.md).
func NewRequestID() string {
	var b [12]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(time.Now().UnixMilli()))
	copy(b[:6], ms[2:])
	_, _ = rand.Read(b[6:])
	return "req_" + hex.EncodeToString(b[:])
}
