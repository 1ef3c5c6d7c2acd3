package task

import (
	"maps"
	"sync"

	"switchboard/internal/gateway"
)

// Counts is an Observer that counts state changes by kind and new status
// ("midjourney/succeeded"), for metrics exporters and the console.
type Counts struct {
	mu sync.Mutex
	n  map[string]int64
}

// TaskChanged counts e.
func (c *Counts) TaskChanged(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[CountKey(e.Task.Kind, e.Task.Status)]++
}

// CountKey names a counter of Counts.
func CountKey(kind gateway.TaskKind, status gateway.TaskStatus) string {
	return string(kind) + "/" + string(status)
}

// Snapshot returns a copy of the counters.
func (c *Counts) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
