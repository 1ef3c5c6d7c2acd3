package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The app sweeps expired media on a timer it owns: an object past its
// TTL goes with no write to trigger it and a live one stays. The loop
// ends with the app: the node's cleanup closes it, and Close waits for it.
func TestMediaSweptPeriodically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startNode(t, `
channels:
  - name: img
    type: openai
    base_url: http://127.0.0.1:1
    api_keys: [k]
    models: [dall-e-3]
keys:
  - name: alice
    key: `+testKey+`
    models: ["*"]
media:
  dir: %s
  url_ttl: 2s
`, dir)
	// Objects written after the start's sweep, as another node sharing
	// the directory would write them.
	keyDir := filepath.Join(dir, "1")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	old, live := filepath.Join(keyDir, "old.png"), filepath.Join(keyDir, "live.png")
	for _, p := range []string{old, live} {
		if err := os.WriteFile(p, []byte("PNG"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour) // live for the whole test, however slow
	if err := os.Chtimes(live, future, future); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(old); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired object was not swept without a write")
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live object was swept: %v", err)
	}
}
