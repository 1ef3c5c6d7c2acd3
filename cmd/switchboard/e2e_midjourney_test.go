package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/task"
)

const mjConfig = `
channels:
  - name: mj-proxy
    type: midjourney
    base_url: %s
    api_keys: [mj-upstream-secret]
    models: ["mj/*"]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: bob
    key: ` + testKeyLimit + `
    models: ["*"]
  - name: carol
    key: ` + testKeyBudget + `
    models: ["*"]
    budget_usd: 1
  - name: dave
    key: sk-test-dave-0123456789
    models: ["mj/imagine"]
    rpm: 1
prices:
  mj/imagine: {per_call_usd: 0.05}
  mj/upscale: {per_call_usd: 0.02}
  mj/variation: {per_call_usd: 0.04}
  mj/zoom: {per_call_usd: 0.03}
  mj/blend: {per_call_usd: 0.05}
  mj/describe: {per_call_usd: 0.01}
  mj/shorten: {per_call_usd: 0.01}
  mj/swap_face: {per_call_usd: 0.02}
tasks:
  poll_interval: 50ms
  max_poll_interval: 200ms
  fetch_interval: 10ms
  lease_ttl: 1s
  hook_secret: whsec-test
  hook_allow_private: true
`

type mjSubmitResult struct {
	Code        int            `json:"code"`
	Description string         `json:"description"`
	Result      *string        `json:"result"`
	Properties  map[string]any `json:"properties"`
}

// mjTaskObject is the task object as midjourney-proxy clients read it.
type mjTaskObject struct {
	ID          string           `json:"id"`
	Action      string           `json:"action"`
	Status      string           `json:"status"`
	Progress    string           `json:"progress"`
	ImageURL    string           `json:"imageUrl"`
	Prompt      string           `json:"prompt"`
	PromptEn    string           `json:"promptEn"`
	Description string           `json:"description"`
	FailReason  string           `json:"failReason"`
	SubmitTime  int64            `json:"submitTime"`
	StartTime   *int64           `json:"startTime"`
	FinishTime  *int64           `json:"finishTime"`
	State       string           `json:"state"`
	Buttons     []map[string]any `json:"buttons"`
	Properties  map[string]any   `json:"properties"`
}

func mjSubmit(t testing.TB, n *taskNode, path, key, body string) mjSubmitResult {
	t.Helper()
	var res mjSubmitResult
	status, raw := n.do(t, http.MethodPost, path, key, body, &res)
	if status != http.StatusOK {
		t.Fatalf("POST %s → %d %s", path, status, raw)
	}
	return res
}

// mjWait fetches a task until it ends, returning every status seen.
func mjWait(t testing.TB, n *taskNode, id, key string) (mjTaskObject, []string) {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var o mjTaskObject
		status, raw := n.do(t, http.MethodGet, "/mj/task/"+id+"/fetch", key, "", &o)
		if status != http.StatusOK {
			t.Fatalf("fetch %s → %d %s", id, status, raw)
		}
		assertNoUpstreamLeak(t, raw)
		seen = append(seen, o.Status+":"+o.Progress)
		switch o.Status {
		case "SUCCESS", "FAILURE", "CANCEL", "MODAL":
			return o, seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not end: %v", id, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNoUpstreamLeak checks that no upstream task id, account or hook
// reaches the client.
func assertNoUpstreamLeak(t testing.TB, raw []byte) {
	t.Helper()
	for _, leak := range []string{"900000000000000", "inst-secret", "chan-secret", "upstream.internal"} {
		if strings.Contains(string(raw), leak) {
			t.Fatalf("answer leaks %q: %s", leak, raw)
		}
	}
}

func TestMidjourneyEndToEnd(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 800*time.Millisecond)
	hooks := newHookReceiver(t, "whsec-test")
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL))

	// Imagine, followed by fetches that see the task move.
	sub := mjSubmit(t, n, "/mj/submit/imagine", testKey, `{"prompt":"a cat","base64Array":[],"notifyHook":"`+hooks.URL+`","state":"s1"}`)
	if sub.Code != 1 || sub.Result == nil {
		t.Fatalf("imagine: %+v", sub)
	}
	id := *sub.Result
	if strings.HasPrefix(id, "9000") || len(id) != 16 {
		t.Fatalf("task id %q is not the gateway's own", id)
	}
	if got := gjson.GetBytes(up.Requests()[0].Body, "notifyHook"); got.Exists() {
		t.Fatal("the client's notifyHook reached the upstream")
	}
	done, seen := mjWait(t, n, id, "mj:"+testKey)
	if done.Status != "SUCCESS" || done.Progress != "100%" || done.ID != id || done.Action != "IMAGINE" ||
		!strings.HasSuffix(done.ImageURL, ".png") || len(done.Buttons) != 10 || done.Prompt != "a cat" || done.State != "s1" ||
		done.SubmitTime == 0 || done.FinishTime == nil || *done.FinishTime < done.SubmitTime || done.StartTime == nil {
		t.Fatalf("finished task %+v", done)
	}
	if done.SubmitTime < time.Now().Add(-time.Minute).UnixMilli() {
		t.Fatalf("submitTime %d is not in milliseconds", done.SubmitTime)
	}
	inProgress := false
	for _, s := range seen {
		if strings.HasPrefix(s, "IN_PROGRESS:") && s != "IN_PROGRESS:0%" {
			inProgress = true
		}
	}
	if !inProgress {
		t.Fatalf("fetches never saw progress: %v", seen)
	}

	// Another key sees nothing of it.
	status, raw := n.do(t, http.MethodGet, "/mj/task/"+id+"/fetch", testKeyLimit, "", nil)
	if status != http.StatusNotFound || gjson.GetBytes(raw, "code").Int() != 3 {
		t.Fatalf("other key fetch → %d %s, want 404 code 3", status, raw)
	}
	var list []mjTaskObject
	n.do(t, http.MethodPost, "/mj/task/list-by-condition", testKey, `{"ids":["`+id+`","1234"]}`, &list)
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("list-by-condition: %+v", list)
	}
	list = nil
	n.do(t, http.MethodPost, "/mj/task/list-by-condition", testKeyLimit, `{"ids":["`+id+`"]}`, &list)
	if len(list) != 0 {
		t.Fatalf("other key listed %d tasks", len(list))
	}
	if res := mjSubmit(t, n, "/mj/submit/action", testKeyLimit, `{"taskId":"`+id+`","customId":"`+done.Buttons[0]["customId"].(string)+`"}`); res.Code != 3 {
		t.Fatalf("other key's action: %+v, want code 3", res)
	}
	var seed mjSubmitResult
	n.do(t, http.MethodGet, "/mj/task/"+id+"/image-seed", testKey, "", &seed)
	if seed.Code != 1 || seed.Result == nil || *seed.Result != "2873164" {
		t.Fatalf("image-seed: %+v", seed)
	}

	// The final notification arrives once, signed, as a task object.
	gatewaytest.WaitFor(t, 30*time.Second, "the final notification", func() bool {
		return hooks.count(func(m map[string]any) bool { return m["id"] == id && m["status"] == "SUCCESS" }) == 1
	})
	if hooks.bad.Load() != 0 {
		t.Fatalf("%d notifications with a bad signature", hooks.bad.Load())
	}

	// An upscale goes to the channel that ran the imagine, with the
	// upstream's own task id.
	act := mjSubmit(t, n, "/mj/submit/action", testKey, `{"taskId":"`+id+`","customId":"`+done.Buttons[0]["customId"].(string)+`","chooseSameChannel":true}`)
	if act.Code != 1 || act.Result == nil {
		t.Fatalf("action: %+v", act)
	}
	last := lastSubmit(up)
	if last.Path != "/mj/submit/action" || gjson.GetBytes(last.Body, "taskId").String() != up.TaskIDs()[0] {
		t.Fatalf("upstream action request %s %s", last.Path, last.Body)
	}
	upscaled, _ := mjWait(t, n, *act.Result, testKey)
	if upscaled.Status != "SUCCESS" || upscaled.Action != "UPSCALE" || upscaled.Properties["relatedTaskId"] != id {
		t.Fatalf("upscale %+v", upscaled)
	}

	// Custom Zoom opens a MODAL the client completes.
	var zoomID string
	for _, b := range done.Buttons {
		if strings.Contains(b["customId"].(string), "CustomZoom") {
			zoomID = b["customId"].(string)
		}
	}
	zoom := mjSubmit(t, n, "/mj/submit/action", testKey, `{"taskId":"`+id+`","customId":"`+zoomID+`"}`)
	if zoom.Code != 21 || zoom.Result == nil || zoom.Properties["status"] != "MODAL" {
		t.Fatalf("custom zoom: %+v", zoom)
	}
	if m, _ := mjWait(t, n, *zoom.Result, testKey); m.Status != "MODAL" || m.Action != "ZOOM" {
		t.Fatalf("zoom task %+v, want MODAL", m)
	}
	if res := mjSubmit(t, n, "/mj/submit/modal", testKey, `{"taskId":"`+*zoom.Result+`","prompt":"a cat --zoom 1.5"}`); res.Code != 1 || res.Result == nil || *res.Result != *zoom.Result {
		t.Fatalf("modal: %+v", res)
	}
	if m, _ := mjWait(t, n, *zoom.Result, testKey); m.Status != "SUCCESS" {
		t.Fatalf("zoom after modal %+v", m)
	}

	// Billing: each finished task once, at its price.
	for _, tc := range []struct {
		id    string
		price float64
	}{{id, 0.05}, {*act.Result, 0.02}, {*zoom.Result, 0.03}} {
		var recs []gateway.UsageRecord
		gatewaytest.WaitFor(t, 30*time.Second, "the ledger record of "+tc.id, func() bool { recs = n.ledgerFor(t, tc.id); return len(recs) > 0 })
		if len(recs) != 1 || recs[0].PriceNanoUSD != gateway.NanoUSD(tc.price) || recs[0].Status != 200 {
			t.Fatalf("ledger of %s: %+v", tc.id, recs)
		}
	}
	// Observers heard every state change.
	counts := n.app.taskCounts.Snapshot()
	if counts["midjourney/succeeded"] != 3 || counts["midjourney/modal"] != 1 || counts["midjourney/in_progress"] < 1 {
		t.Fatalf("task state counts %v", counts)
	}
}

func TestMidjourneyRefusalsAndFailures(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 200*time.Millisecond)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL))
	png := "data:image/png;base64,iVBORw0KGgo="

	for _, tc := range []struct {
		name, path, body string
		want             string // substring of the description
	}{
		{"no prompt", "/mj/submit/imagine", `{"prompt":""}`, "prompt is required"},
		{"not JSON", "/mj/submit/imagine", `{"prompt":`, "JSON object"},
		{"array body", "/mj/submit/imagine", `[1]`, "JSON object"},
		{"prompt not a string", "/mj/submit/imagine", `{"prompt":5}`, "prompt must be a string"},
		{"bad mode", "/mj/submit/imagine", `{"prompt":"x","mode":"SLOW"}`, "mode must be"},
		{"bad botType", "/mj/submit/imagine", `{"prompt":"x","botType":"X"}`, "botType"},
		{"bad image", "/mj/submit/imagine", `{"prompt":"x","base64Array":["data:image/png;base64,@@@"]}`, "not valid base64"},
		{"blend of one", "/mj/submit/blend", `{"base64Array":["` + png + `"]}`, "2 to 5"},
		{"blend dimensions", "/mj/submit/blend", `{"base64Array":["` + png + `","` + png + `"],"dimensions":"WIDE"}`, "dimensions"},
		{"describe without image", "/mj/submit/describe", `{}`, "base64 is required"},
		{"swap without target", "/mj/insight-face/swap", `{"sourceBase64":"` + png + `"}`, "targetBase64 is required"},
		{"action without customId", "/mj/submit/action", `{"taskId":"1"}`, "customId is required"},
		{"action without task", "/mj/submit/action", `{"customId":"MJ::JOB::upsample::1::x"}`, "taskId is required"},
		{"hook not http", "/mj/submit/imagine", `{"prompt":"x","notifyHook":"file:///etc/passwd"}`, "callback URL refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mjSubmit(t, n, tc.path, testKey, tc.body)
			if res.Code != 4 || !strings.Contains(res.Description, tc.want) || res.Result != nil {
				t.Fatalf("%s → %+v, want code 4 with %q", tc.body, res, tc.want)
			}
		})
	}
	if got := len(up.Requests()); got != 0 {
		t.Fatalf("%d refused submissions reached the upstream", got)
	}

	// Missing and wrong keys.
	if status, raw := n.do(t, http.MethodPost, "/mj/submit/imagine", "", `{"prompt":"x"}`, nil); status != http.StatusUnauthorized || !gjson.GetBytes(raw, "code").Exists() {
		t.Fatalf("no key → %d %s", status, raw)
	}
	if status, _ := n.do(t, http.MethodPost, "/mj/submit/imagine", "mj:sk-wrong-000000000000", `{"prompt":"x"}`, nil); status != http.StatusUnauthorized {
		t.Fatalf("wrong key → %d", status)
	}

	// The key's limits and allow-list apply to submissions.
	if res := mjSubmit(t, n, "/mj/submit/imagine", "sk-test-dave-0123456789", `{"prompt":"first"}`); res.Code != 1 {
		t.Fatalf("first submit of a limited key: %+v", res)
	}
	if status, raw := n.do(t, http.MethodPost, "/mj/submit/imagine", "sk-test-dave-0123456789", `{"prompt":"second"}`, nil); status != http.StatusTooManyRequests ||
		gjson.GetBytes(raw, "code").Int() != 23 {
		t.Fatalf("second submit within a minute → %d %s, want 429 code 23", status, raw)
	}
	if status, raw := n.do(t, http.MethodPost, "/mj/submit/blend", "sk-test-dave-0123456789",
		`{"base64Array":["`+png+`","`+png+`"]}`, nil); status != http.StatusForbidden {
		t.Fatalf("blend by an imagine-only key → %d %s", status, raw)
	}

	// Upstream refusals keep their code; the hold goes back.
	banned := mjSubmit(t, n, "/mj/submit/imagine", testKeyBudget, `{"prompt":"something banned"}`)
	if banned.Code != 24 || banned.Properties["bannedWord"] != "banned" || banned.Properties["discordInstanceId"] != nil {
		t.Fatalf("banned: %+v", banned)
	}
	// An upstream whose queue is full is tried no more, and says so.
	if full := mjSubmit(t, n, "/mj/submit/imagine", testKeyBudget, `{"prompt":"queuefull"}`); full.Code == 1 {
		t.Fatalf("queue full: %+v", full)
	}
	// A task that fails upstream releases its hold.
	failing := mjSubmit(t, n, "/mj/submit/imagine", testKeyBudget, `{"prompt":"this will fail"}`)
	if failing.Code != 1 {
		t.Fatalf("submit: %+v", failing)
	}
	// The refusals' holds are released (through the ledger, within its
	// flush interval); the running task's stays.
	gatewaytest.WaitFor(t, 30*time.Second, "only the running task's hold", func() bool {
		return n.key(t, testKeyBudget).ReservedNanoUSD == gateway.NanoUSD(0.05)
	})
	o, _ := mjWait(t, n, *failing.Result, testKeyBudget)
	if o.Status != "FAILURE" || o.FailReason == "" {
		t.Fatalf("failing task %+v", o)
	}
	gatewaytest.WaitFor(t, 30*time.Second, "the hold released", func() bool {
		k := n.key(t, testKeyBudget)
		return k.ReservedNanoUSD == 0
	})
	if k := n.key(t, testKeyBudget); k.SpentNanoUSD != 0 {
		t.Fatalf("spent %d on refused and failed tasks", k.SpentNanoUSD)
	}
	// An action on a failed task is refused.
	if res := mjSubmit(t, n, "/mj/submit/action", testKeyBudget, `{"taskId":"`+*failing.Result+`","customId":"MJ::JOB::upsample::1::x"}`); res.Code != 4 {
		t.Fatalf("action on a failed task: %+v", res)
	}
}

func TestMidjourneyModes(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", time.Hour)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL))
	for _, tc := range []struct{ path, body, want string }{
		{"/mj-relax/mj/submit/imagine", `{"prompt":"x"}`, "RELAX"},
		{"/mj-turbo/mj/submit/imagine", `{"prompt":"x"}`, "TURBO"},
		{"/mj/submit/imagine", `{"prompt":"x","mode":"relax"}`, "RELAX"},
		{"/mj-fast/mj/submit/imagine", `{"prompt":"x","mode":"TURBO"}`, "TURBO"}, // the body wins
		{"/mj/submit/imagine", `{"prompt":"x"}`, ""},
	} {
		if res := mjSubmit(t, n, tc.path, testKey, tc.body); res.Code != 1 {
			t.Fatalf("%s: %+v", tc.path, res)
		}
		last := lastSubmit(up)
		got := gjson.GetBytes(last.Body, "accountFilter.modes.0").String()
		if got != tc.want || gjson.GetBytes(last.Body, "mode").Exists() || last.Path != "/mj/submit/imagine" {
			t.Errorf("%s %s → upstream %s %s, want mode %q", tc.path, tc.body, last.Path, last.Body, tc.want)
		}
	}
}

// Restart the gateway mid-task: the new process resumes polling, the task
// completes, is billed once and its hook fires once.
func TestMidjourneyRestartMidTask(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 600*time.Millisecond)
	hooks := newHookReceiver(t, "whsec-test")
	dir := t.TempDir()
	cfg := fmt.Sprintf(mjConfig, up.URL)
	n1 := startTaskNode(t, dir, cfg)
	sub := mjSubmit(t, n1, "/mj/submit/imagine", testKeyBudget, `{"prompt":"a restart","notifyHook":"`+hooks.URL+`"}`)
	if sub.Code != 1 {
		t.Fatalf("submit: %+v", sub)
	}
	id := *sub.Result
	n1.stop()
	time.Sleep(700 * time.Millisecond) // the task ends upstream while no gateway runs

	n2 := startTaskNode(t, dir, cfg)
	// Nobody fetches: the poller alone finishes it.
	gatewaytest.WaitFor(t, 45*time.Second, "the task to finish after the restart", func() bool {
		tk, err := n2.app.store.TaskByID(context.Background(), id)
		return err == nil && tk.Status == gateway.TaskSucceeded && tk.Billed
	})
	gatewaytest.WaitFor(t, 30*time.Second, "the final notification", func() bool {
		return hooks.count(func(m map[string]any) bool { return m["id"] == id && m["status"] == "SUCCESS" }) >= 1
	})
	gatewaytest.WaitFor(t, 30*time.Second, "the hold settled", func() bool { return n2.key(t, testKeyBudget).ReservedNanoUSD == 0 })
	// Another restart and a few poller rounds change nothing.
	n2.stop()
	n3 := startTaskNode(t, dir, cfg)
	time.Sleep(300 * time.Millisecond)
	if recs := n3.ledgerFor(t, id); len(recs) != 1 || recs[0].PriceNanoUSD != gateway.NanoUSD(0.05) {
		t.Fatalf("ledger after restarts: %+v", recs)
	}
	if k := n3.key(t, testKeyBudget); k.SpentNanoUSD != gateway.NanoUSD(0.05) || k.ReservedNanoUSD != 0 {
		t.Fatalf("spent %d reserved %d, want one price", k.SpentNanoUSD, k.ReservedNanoUSD)
	}
	if c := hooks.count(func(m map[string]any) bool { return m["id"] == id && m["status"] == "SUCCESS" }); c != 1 {
		t.Fatalf("final notification fired %d times", c)
	}
	var o mjTaskObject
	n3.do(t, http.MethodGet, "/mj/task/"+id+"/fetch", testKeyBudget, "", &o)
	if o.Status != "SUCCESS" {
		t.Fatalf("after restarts the task is %+v", o)
	}
}

// Two nodes on one PostgreSQL database (the lease in the database, or in
// Redis when they share one): one polls, and when it stops the other takes
// over.
func TestMidjourneyTwoNodesOnePoller(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping two-node test in -short mode")
	}
	for _, withRedis := range []bool{false, true} {
		name := "postgres"
		if withRedis {
			name = "postgres+redis"
		}
		t.Run(name, func(t *testing.T) { testTwoNodesOnePoller(t, withRedis) })
	}
}

func testTwoNodesOnePoller(t *testing.T, withRedis bool) {
	dsn := e2ePostgresDB(t)
	storage := "\nstorage:\n  database: " + dsn + "\n"
	if withRedis {
		storage += e2eRedisStorage(t) + "\n"
	}
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 1500*time.Millisecond)
	// A long lease: under load a renewal must not lapse mid-test (a
	// stopping node gives its lease up at once).
	cfg := strings.Replace(fmt.Sprintf(mjConfig, up.URL), "lease_ttl: 1s", "lease_ttl: 10s", 1) + storage
	a := startTaskNode(t, t.TempDir(), cfg)
	b := startTaskNode(t, t.TempDir(), cfg)
	sub := mjSubmit(t, a, "/mj/submit/imagine", testKey, `{"prompt":"two nodes"}`)
	if sub.Code != 1 {
		t.Fatalf("submit: %+v", sub)
	}
	fetch := "/mj/task/" + up.TaskIDs()[0] + "/fetch"
	gatewaytest.WaitFor(t, 30*time.Second, "the poller to poll", func() bool { return a.calls(fetch)+b.calls(fetch) >= 3 })
	if a.calls(fetch) > 0 && b.calls(fetch) > 0 {
		t.Fatalf("both nodes polled: %d and %d", a.calls(fetch), b.calls(fetch))
	}
	// The lease is where it should be: with Redis the database's is free.
	probe, err := a.app.store.AcquireLease(context.Background(), task.PollerLease, "probe", time.Millisecond)
	if err != nil || probe != withRedis {
		t.Fatalf("database lease free = %v (%v), want %v", probe, err, withRedis)
	}
	poller, other := a, b
	if b.calls(fetch) > 0 {
		poller, other = b, a
	}
	poller.stop()
	gatewaytest.WaitFor(t, 45*time.Second, "the other node to take over and finish the task", func() bool {
		tk, err := other.app.store.TaskByID(context.Background(), *sub.Result)
		return err == nil && tk.Status == gateway.TaskSucceeded && tk.Billed && other.calls(fetch) > 0
	})
	var recs []gateway.UsageRecord
	gatewaytest.WaitFor(t, 30*time.Second, "the ledger record", func() bool { recs = other.ledgerFor(t, *sub.Result); return len(recs) > 0 })
	if len(recs) != 1 {
		t.Fatalf("%d ledger records", len(recs))
	}
}

// Progress notifications: every change reaches the hook, in midjourney-proxy's shape.
func TestMidjourneyHookShape(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 300*time.Millisecond)
	hooks := newHookReceiver(t, "whsec-test")
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(mjConfig, up.URL))
	sub := mjSubmit(t, n, "/mj/submit/imagine", testKey, `{"prompt":"hooked","notifyHook":"`+hooks.URL+`"}`)
	gatewaytest.WaitFor(t, 45*time.Second, "the final notification", func() bool {
		return hooks.count(func(m map[string]any) bool { return m["id"] == *sub.Result && m["status"] == "SUCCESS" }) == 1
	})
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	for _, b := range hooks.bodies {
		assertNoUpstreamLeak(t, b)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"id", "action", "status", "progress", "imageUrl", "buttons", "submitTime", "properties"} {
			if _, ok := m[f]; !ok {
				t.Errorf("notification lacks %s: %s", f, b)
			}
		}
	}
}

// With media proxying on, task objects and notifications carry signed,
// expiring gateway URLs; following one streams the upstream's image.
func TestMidjourneyMediaProxy(t *testing.T) {
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 100*time.Millisecond)
	cfg := fmt.Sprintf(mjConfig, up.URL) + "  proxy_media: true\n  public_url: {{GATEWAY}}\n  media_ttl: 1h\n"
	n := startTaskNode(t, t.TempDir(), cfg)
	sub := mjSubmit(t, n, "/mj/submit/imagine", testKey, `{"prompt":"proxied"}`)
	done, _ := mjWait(t, n, *sub.Result, testKey)
	upHost := strings.TrimPrefix(up.URL, "http://")
	if !strings.HasPrefix(done.ImageURL, n.srv.URL+"/mj/image/"+*sub.Result+"?") || strings.Contains(done.ImageURL, upHost) {
		t.Fatalf("imageUrl %q is not the gateway's", done.ImageURL)
	}
	resp, err := http.Get(done.ImageURL) // no key: the signature is the capability
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "\x89PNG") || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("image → %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{
		strings.Replace(done.ImageURL, "sig=", "sig=0", 1),
		strings.Replace(done.ImageURL, *sub.Result, "1796215620997217", 1),
		strings.Split(done.ImageURL, "?")[0],
	} {
		resp, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("tampered %s → %d, want 404", bad, resp.StatusCode)
		}
	}
}

// With two Midjourney channels, every follow-up goes to the channel that
// ran its original task.
func TestMidjourneyFollowUpsStayOnTheirChannel(t *testing.T) {
	a := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 50*time.Millisecond)
	b := gatewaytest.NewMidjourney(t, "mj-upstream-secret", 50*time.Millisecond)
	cfg := strings.Replace(fmt.Sprintf(mjConfig, a.URL), "keys:\n", `  - name: mj-proxy-2
    type: midjourney
    base_url: `+b.URL+`
    api_keys: [mj-upstream-secret]
    models: ["mj/*"]
keys:
`, 1)
	n := startTaskNode(t, t.TempDir(), cfg)
	n.app.router.SetSeed(7) // deterministic weighted choices
	for i := 0; i < 6; i++ {
		sub := mjSubmit(t, n, "/mj/submit/imagine", testKey, fmt.Sprintf(`{"prompt":"cat %d"}`, i))
		done, _ := mjWait(t, n, *sub.Result, testKey)
		prompt := fmt.Sprintf("cat %d", i)
		ran, other := a, b
		if gjson.GetBytes(lastSubmit(b).Body, "prompt").String() == prompt {
			ran, other = b, a
		} else if gjson.GetBytes(lastSubmit(a).Body, "prompt").String() != prompt {
			t.Fatalf("no upstream got the imagine %q", prompt)
		}
		before := len(other.Requests())
		act := mjSubmit(t, n, "/mj/submit/action", testKey, `{"taskId":"`+*sub.Result+`","customId":"`+done.Buttons[1]["customId"].(string)+`"}`)
		if act.Code != 1 {
			t.Fatalf("action: %+v", act)
		}
		if last := lastSubmit(ran); last.Path != "/mj/submit/action" {
			t.Fatalf("action went elsewhere than the channel that ran the imagine (its last submit: %s)", last.Path)
		}
		if got := len(other.Requests()); got != before {
			t.Fatalf("the other channel got %d requests for the action", got-before)
		}
		mjWait(t, n, *act.Result, testKey)
	}
	if len(a.TaskIDs()) == 0 || len(b.TaskIDs()) == 0 {
		t.Fatalf("the imagines did not spread over both channels (%d and %d tasks)", len(a.TaskIDs()), len(b.TaskIDs()))
	}
}

// lastSubmit is the last submission (POST) an upstream received; polls
// may come after it.
func lastSubmit(u interface{ Requests() []gatewaytest.Recorded }) gatewaytest.Recorded {
	reqs := u.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == http.MethodPost {
			return reqs[i]
		}
	}
	return gatewaytest.Recorded{}
}

// SIGKILL the gateway process mid-task: the next process finishes every
// task, bills each once and notifies each once.
func TestMidjourneyKillMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	up := gatewaytest.NewMidjourney(t, "mj-upstream-secret", time.Second)
	hooks := newHookReceiver(t, "whsec-test")
	dir := t.TempDir()
	dsn := "sqlite://" + dir + "/sb.db"
	cfg := "server:\n  addr: {{addr}}\nstorage:\n  database: " + dsn + "\nlog:\n  level: warn\n" + fmt.Sprintf(mjConfig, up.URL)
	p1 := startE2EProc(t, "n1", dir, cfg)
	post := func(base, body string) mjSubmitResult {
		req, _ := http.NewRequest(http.MethodPost, base+"/mj/submit/imagine", strings.NewReader(body))
		req.Header.Set("mj-api-secret", testKeyBudget)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res mjSubmitResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.Code != 1 {
			t.Fatalf("submit: %+v %v", res, err)
		}
		return res
	}
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, *post(p1.URL(), fmt.Sprintf(`{"prompt":"killed %d","notifyHook":"%s"}`, i, hooks.URL)).Result)
	}
	time.Sleep(300 * time.Millisecond)
	p1.kill()
	time.Sleep(time.Second) // the tasks end upstream while no gateway runs

	p2 := startE2EProc(t, "n2", dir, cfg)
	for _, id := range ids {
		gatewaytest.WaitFor(t, 60*time.Second, "task "+id+" notified", func() bool {
			return hooks.count(func(m map[string]any) bool { return m["id"] == id && m["status"] == "SUCCESS" }) >= 1
		})
		req, _ := http.NewRequest(http.MethodGet, p2.URL()+"/mj/task/"+id+"/fetch", nil)
		req.Header.Set("Authorization", "Bearer "+testKeyBudget)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var o mjTaskObject
		_ = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if o.Status != "SUCCESS" {
			t.Fatalf("task %s after the kill: %+v", id, o)
		}
	}
	time.Sleep(500 * time.Millisecond) // a few more poller rounds
	p2.terminate(20 * time.Second)

	recs := e2eLedger(t, dsn)
	for _, id := range ids {
		n := 0
		for _, r := range recs {
			if r.RequestID == "task-"+id {
				n++
				if r.PriceNanoUSD != gateway.NanoUSD(0.05) {
					t.Errorf("task %s billed %d", id, r.PriceNanoUSD)
				}
			}
		}
		if n != 1 {
			t.Errorf("task %s has %d ledger records, want 1", id, n)
		}
		if c := hooks.count(func(m map[string]any) bool { return m["id"] == id && m["status"] == "SUCCESS" }); c != 1 {
			t.Errorf("task %s notified %d times", id, c)
		}
	}
	st := e2eOpenStore(t, dsn)
	k, err := st.KeyByHash(context.Background(), hashOf(testKeyBudget))
	if err != nil {
		t.Fatal(err)
	}
	if k.SpentNanoUSD != 3*gateway.NanoUSD(0.05) || k.ReservedNanoUSD != 0 {
		t.Fatalf("spent %d reserved %d, want three imagines and nothing held", k.SpentNanoUSD, k.ReservedNanoUSD)
	}
}
