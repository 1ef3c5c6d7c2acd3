package gateway

import (
	"strings"
	"testing"
	"time"
)

func TestNewRequestIDIsTimeOrderedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewRequestID()
		if !strings.HasPrefix(id, "req_") || len(id) != 28 {
			t.Fatalf("id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
			next := NewRequestID()
			if prev != "" && next[:16] < prev[:16] {
				t.Fatalf("ids not time-ordered: %q after %q", next, prev)
			}
			prev = next
		}
	}
}
