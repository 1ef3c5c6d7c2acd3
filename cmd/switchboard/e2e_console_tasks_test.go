package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
)

// The operator sees every key's tasks, newest first: in the console's
// gallery (with a finished Midjourney task's image), in the admin API and
// in the CLI.
func TestConsoleTasksGallery(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 300*time.Millisecond)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL)+"\nadmin:\n  token: "+e2eAdminToken+"\n")
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

	api := []string{"--url", n.srv.URL, "--token", e2eAdminToken}
	out, err := runCLI(t, append([]string{"tasks", "list", "-o", "json"}, api...)...)
	if err != nil {
		t.Fatal(err)
	}
	if r := gjson.Get(out, "data.0"); r.Get("id").Str != id || r.Get("status").Str != "succeeded" || r.Get("key_name").Str != "alice" ||
		!r.Get("billed").Bool() || r.Get("upstream_id").Exists() {
		t.Fatalf("tasks list: %s", out)
	}
	if out, err = runCLI(t, append([]string{"tasks", "list"}, api...)...); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "STATUS") {
		t.Fatalf("tasks list table (%v):\n%s", err, out)
	}
	if _, err := runCLI(t, "tasks", "list", "--url", n.srv.URL, "--token", "sb-admin-wrong-0123456789abcdef"); err == nil {
		t.Fatal("a wrong admin token listed tasks")
	}
}
