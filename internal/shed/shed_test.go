package shed

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

func TestGrowAndRelease(t *testing.T) {
	ctx := context.Background()
	l := New(100, 0)
	a, b := l.Reserve(), l.Reserve()
	if err := a.Grow(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.Grow(ctx, 50); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("over capacity without a wait: %v", err)
	}
	if err := b.Grow(ctx, 40); err != nil || l.InUse() != 100 {
		t.Fatalf("filling up: %v, in use %d", err, l.InUse())
	}
	a.Release()
	a.Release() // idempotent
	if l.InUse() != 40 || a.Bytes() != 0 {
		t.Fatalf("after release: in use %d, a holds %d", l.InUse(), a.Bytes())
	}
	// One reservation larger than everything is clamped and runs alone.
	b.Release()
	big := l.Reserve()
	if err := big.Grow(ctx, 1000); err != nil || big.Bytes() != 100 {
		t.Fatalf("oversized: %v, holds %d", err, big.Bytes())
	}
	if err := big.Grow(ctx, 10); err != nil || big.Bytes() != 100 {
		t.Fatalf("growing past the capacity: %v, holds %d", err, big.Bytes())
	}
	big.Release()
	var none *Limiter
	r := none.Reserve()
	var nilRes *Reservation
	if err := nilRes.Grow(ctx, 5); err != nil || nilRes.Bytes() != 0 {
		t.Fatalf("nil reservation: %v", err)
	}
	nilRes.Release()
	if err := r.Grow(ctx, 1<<40); err != nil || none.InUse() != 0 {
		t.Fatalf("nil limiter: %v", err)
	}
	r.Release()
	if New(0, time.Second) != nil {
		t.Fatal("capacity 0 must mean no limit")
	}
}

func TestGrowWaitsBoundedly(t *testing.T) {
	ctx := context.Background()
	l := New(10, 200*time.Millisecond)
	hold := l.Reserve()
	_ = hold.Grow(ctx, 10)

	// Room frees up within the wait: admitted.
	go func() {
		time.Sleep(30 * time.Millisecond)
		hold.Release()
	}()
	r := l.Reserve()
	if err := r.Grow(ctx, 5); err != nil {
		t.Fatalf("waiting for room: %v", err)
	}
	// It does not: shed after the wait, not later.
	other := l.Reserve()
	_ = other.Grow(ctx, 5)
	start := time.Now()
	third := l.Reserve()
	if err := third.Grow(ctx, 5); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("shed after %s, want about the wait", d)
	}
	// A caller that leaves stops waiting at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	fourth := l.Reserve()
	if err := fourth.Grow(cctx, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestNeverOverCapacity(t *testing.T) {
	const capacity = 1000
	l := New(capacity, 50*time.Millisecond)
	var wg sync.WaitGroup
	var over atomic.Bool
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := l.Reserve()
				if r.Grow(context.Background(), int64(1+(g*7+i*13)%400)) == nil {
					if l.InUse() > capacity {
						over.Store(true)
					}
				}
				r.Release()
			}
		}()
	}
	wg.Wait()
	if over.Load() || l.InUse() != 0 {
		t.Fatalf("over capacity %v, in use at the end %d", over.Load(), l.InUse())
	}
}

func TestGrowDoesNotAllocate(t *testing.T) {
	l := New(1<<20, time.Second)
	r := l.Reserve()
	if n := testing.AllocsPerRun(100, func() {
		_ = r.Grow(context.Background(), 1000)
		r.Release()
	}); n != 0 {
		t.Fatalf("%.0f allocations per grow and release", n)
	}
}

type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadBody(t *testing.T) {
	ctx := context.Background()
	body := func(n int) []byte { return bytes.Repeat([]byte("abcdefgh"), n/8+1)[:n] }
	boom := errors.New("connection reset")
	cases := []struct {
		name     string
		size     int
		declared bool
		limit    int64
		oneByte  bool
		readErr  error
		want     error
	}{
		{name: "empty declared", size: 0, declared: true, limit: 100},
		{name: "empty undeclared", size: 0, limit: 100},
		{name: "declared", size: 5000, declared: true, limit: 1 << 20},
		{name: "undeclared small", size: 5000, limit: 1 << 20},
		{name: "undeclared chunked", size: 700 << 10, limit: 1 << 20},
		{name: "undeclared one byte per read", size: 40 << 10, limit: 1 << 20, oneByte: true},
		{name: "declared over the limit", size: 101, declared: true, limit: 100, want: ErrTooLarge},
		{name: "undeclared over the limit", size: 300 << 10, limit: 100 << 10, want: ErrTooLarge},
		{name: "read error", size: 300 << 10, limit: 1 << 20, readErr: boom, want: boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := body(tc.size)
			var r io.Reader = bytes.NewReader(in)
			if tc.oneByte {
				r = iotest.OneByteReader(r)
			}
			if tc.readErr != nil {
				r = &failAfter{r: r, err: tc.readErr}
			}
			declared := int64(-1)
			if tc.declared {
				declared = int64(tc.size)
			}
			l := New(10<<20, 0)
			res := l.Reserve()
			got, err := ReadBody(ctx, &res, r, declared, tc.limit)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				res.Release()
				return
			}
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if res.Bytes() < int64(len(got)) || res.Bytes() > int64(len(got))+chunkSize {
				t.Fatalf("reservation %d for a %d-byte body", res.Bytes(), len(got))
			}
			if tc.declared && cap(got) != len(got) {
				t.Fatalf("declared body allocated %d for %d", cap(got), len(got))
			}
			res.Release()
			if l.InUse() != 0 {
				t.Fatalf("in use after release: %d", l.InUse())
			}
		})
	}
	// No room: refused before anything is allocated.
	l := New(1000, 0)
	alone := l.Reserve()
	if _, err := ReadBody(ctx, &alone, strings.NewReader(string(body(2000))), 2000, 1<<20); err != nil {
		t.Fatalf("a body larger than the capacity runs alone: %v", err)
	}
	alone.Release()
	full := l.Reserve()
	if err := full.Grow(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBody(ctx, nil, strings.NewReader("x"), 1, 100); err != nil {
		t.Fatalf("without a reservation: %v", err)
	}
	last := l.Reserve()
	if _, err := ReadBody(ctx, &last, strings.NewReader("x"), 1, 100); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full: %v", err)
	}
}
