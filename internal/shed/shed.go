// Package shed bounds the request-body bytes a process holds at once and
// sheds the calls that do not fit. A valid 32 MiB body costs several times
// its size while it is relayed (more when translated), so a handful of
// them at once could exhaust memory; with a Limiter, a body is admitted
// only while the bytes of all bodies in flight stay under its capacity,
// and a call that cannot get room within a short wait is refused with an
// overload error the client can retry, instead of taking the process down.
package shed

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// ErrOverloaded is returned when room did not free up within the wait.
var ErrOverloaded = errors.New("shed: the gateway is at its limit of request bytes in flight")

// ErrTooLarge is returned by ReadBody for a body over its limit.
var ErrTooLarge = errors.New("shed: request body too large")

// Limiter is a weighted semaphore over bytes that never waits longer than
// its wait. A nil *Limiter admits everything. It is safe for concurrent use.
type Limiter struct {
	capacity int64
	wait     time.Duration

	mu      sync.Mutex
	used    int64
	waiting int
	changed chan struct{} // closed (and replaced) when room frees up
}

// New returns a Limiter of capacity bytes whose callers wait at most wait
// for room (0: never wait). capacity <= 0 means no limit: New returns nil.
func New(capacity int64, wait time.Duration) *Limiter {
	if capacity <= 0 {
		return nil
	}
	return &Limiter{capacity: capacity, wait: wait, changed: make(chan struct{})}
}

// InUse reports the bytes held now.
func (l *Limiter) InUse() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// Reservation is what one request holds. Release it when the request's
// body is no longer referenced. A nil *Reservation holds nothing.
type Reservation struct {
	l *Limiter
	n int64
}

// Reserve returns an empty reservation against l; a nil l gives one that
// holds nothing. It is a value so that a request's state can embed it.
func (l *Limiter) Reserve() Reservation { return Reservation{l: l} }

// Bytes reports what r holds.
func (r *Reservation) Bytes() int64 {
	if r == nil {
		return 0
	}
	return r.n
}

// Grow adds n bytes to r, waiting for room at most the limiter's wait (or
// until ctx ends). A reservation is clamped to the capacity, so one body
// larger than all of it still runs, alone.
func (r *Reservation) Grow(ctx context.Context, n int64) error {
	if r == nil || r.l == nil || n <= 0 {
		return nil
	}
	l := r.l
	n = min(n, l.capacity-r.n)
	if n <= 0 {
		return nil
	}
	var timeout <-chan time.Time
	for {
		l.mu.Lock()
		if l.used+n <= l.capacity {
			l.used += n
			l.mu.Unlock()
			r.n += n
			return nil
		}
		if l.wait <= 0 {
			l.mu.Unlock()
			return ErrOverloaded
		}
		l.waiting++
		ch := l.changed
		l.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(l.wait)
			defer t.Stop()
			timeout = t.C
		}
		var err error
		select {
		case <-ch:
		case <-timeout:
			err = ErrOverloaded
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Release gives back everything r holds; r may grow again afterwards.
func (r *Reservation) Release() {
	if r == nil || r.l == nil || r.n == 0 {
		return
	}
	l := r.l
	l.mu.Lock()
	l.used -= r.n
	if l.waiting > 0 {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	r.n = 0
}

// Read sizes: the first chunk of a body of unknown length is small (most
// bodies are a few KiB); later ones are large enough to keep the count of
// chunks low and small enough that one unused chunk wastes little.
const (
	firstChunk = 16 << 10
	chunkSize  = 256 << 10
)

// ReadBody reads a request body of at most limit bytes into memory,
// holding its size in res (nil: no accounting) before the memory is taken. declared is the
// request's Content-Length (-1 when unknown): a declared body is refused
// at once when over the limit and read into one exact allocation; an
// undeclared one is read in chunks, each reserved before it is allocated,
// and joined once at the end (growing one slice by append would leave a
// trail of copies several times the body's size for the collector).
func ReadBody(ctx context.Context, res *Reservation, r io.Reader, declared, limit int64) ([]byte, error) {
	if declared > limit {
		return nil, ErrTooLarge
	}
	if declared >= 0 {
		if err := res.Grow(ctx, declared); err != nil {
			return nil, err
		}
		b := make([]byte, declared)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	var chunks [][]byte
	var total int64
	size := int64(firstChunk)
	for {
		if err := res.Grow(ctx, size); err != nil {
			return nil, err
		}
		chunk := make([]byte, size)
		n, err := io.ReadFull(r, chunk)
		chunks = append(chunks, chunk[:n])
		total += int64(n)
		if total > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		size = chunkSize
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	b := make([]byte, 0, total)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b, nil
}
