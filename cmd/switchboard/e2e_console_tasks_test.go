package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/internal/gatewaytest"
)

// The console's task gallery lists every key's tasks from the task store,
// newest first, with a finished Midjourney task's image.
func TestConsoleTasksGallery(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 300*time.Millisecond)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL))
	sub := mjSubmit(t, n, "/mj/submit/imagine", testKey, `{"prompt":"a cat","base64Array":[]}`)
	if sub.Code != 1 || sub.Result == nil {
		t.Fatalf("imagine: %+v", sub)
	}
	id := *sub.Result
	done, _ := mjWait(t, n, id, "mj:"+testKey)
	if done.Status != "SUCCESS" {
		t.Fatalf("task %+v", done)
	}
	got, err := consoleTasks{n.app.store}.ConsoleTasks(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || got[0].Kind != "midjourney" || got[0].Status != "succeeded" ||
		got[0].KeyName != "alice" || !strings.HasSuffix(got[0].ResultURL, ".png") {
		t.Fatalf("gallery %+v (task %+v)", got, done)
	}
}
