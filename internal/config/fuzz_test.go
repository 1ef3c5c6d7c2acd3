package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a config or an error whose every line names the file.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "switchboard.example.yaml")); err == nil {
		f.Add(data)
	}
	matches, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, m := range matches {
		if data, err := os.ReadFile(m); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("channels: [{name: c, type: openai, api_keys: [${K:-x}], models: ['*']}]\n"))
	f.Add([]byte("x-a: &a {type: simulator}\nchannels: [{<<: *a, name: s, models: [m]}]\n"))
	getenv := env("K", "value: with [yaml] #chars", "EMPTY", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, getenv)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg != nil, err)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("error line without file name: %q", line)
				}
			}
			return
		}
		// A valid config converts without surprises.
		if len(cfg.Channels()) != len(cfg.Upstreams) || len(cfg.Keys()) != len(cfg.ClientKeys) {
			t.Fatal("conversion lost entries")
		}
	})
}
