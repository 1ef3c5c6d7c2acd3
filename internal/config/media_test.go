package config

import (
	"strings"
	"testing"
)

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	c, err := Parse("s.yaml", []byte("media:\n  upload_limits_mb: {audio.transcriptions: 10, images.edits: 100}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Media.UploadLimitBytes()
	if len(got) != 2 || got["audio.transcriptions"] != 10<<20 || got["images.edits"] != 100<<20 {
		t.Errorf("limits %v", got)
	}
	_, err = Parse("s.yaml", []byte("media:\n  upload_limits_mb: {audio.whatever: 10, images.edits: 0}\n"), env)
	if err == nil || !strings.Contains(err.Error(), "media.upload_limits_mb.audio.whatever: unknown route") ||
		!strings.Contains(err.Error(), "media.upload_limits_mb.images.edits: must be between 1 and 4096") {
		t.Errorf("err = %v", err)
	}
}
