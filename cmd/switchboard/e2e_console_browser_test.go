package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
)

const consoleAdminToken = "console-admin-token-0123456789"

const consoleConfig = `
admin:
  token: ` + consoleAdminToken + `
channels:
  - name: sim
    type: simulator
    models: [sim-1]
    settings: {latency: 5ms, tokens_per_second: "2000"}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// findBrowser returns a Chromium binary, or skips the test (fails it when
// SWITCHBOARD_REQUIRE_BROWSER=1, as CI sets).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary on PATH (apt-get install chromium): the console's browser tests need one"
	if os.Getenv("SWITCHBOARD_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + ", and SWITCHBOARD_REQUIRE_BROWSER=1")
	}
	t.Skip(msg)
	return ""
}

// artifactDir is where screenshots go: testdata/artifacts/console (kept
// out of git), or SWITCHBOARD_ARTIFACT_DIR.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_ARTIFACT_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts", "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser drives one headless Chromium tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	shot int
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findBrowser(t)), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, dir: artifactDir(t)}
	// The first run starts the browser, on a context without a deadline
	// (a deadline there would end the browser with it).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", findBrowser(t), err)
	}
	// Confirmation dialogs (disable, rotate) are accepted, as an operator
	// clicking OK would.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// run performs steps with a generous deadline for a loaded machine.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	name = strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' {
			return '-'
		}
		return r
	}, name)
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return value(b, "read "+sel, chromedp.Text(css(sel), chromedp.NodeVisible))
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// page opens path and waits for sel.
func (b *browser) page(path, sel string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(css(sel)))
}

func (b *browser) location() string {
	return strings.TrimPrefix(value(b, "location", chromedp.Location()), b.base)
}

// TestConsoleInBrowser signs in to the console with headless Chromium,
// renders every page with data, works every form, and checks the failure
// paths (bad token, stale CSRF token, signed out) and phone width.
func TestConsoleInBrowser(t *testing.T) {
	findBrowser(t)
	n := startNode(t, consoleConfig)
	for i := range 3 {
		res := n.post(t, "/v1/chat/completions", testKey, fmt.Sprintf(`{"model":"sim-1","stream":%v,"messages":[{"role":"user","content":"hello %d"}]}`, i%2 == 1, i), nil)
		_, _ = io.Copy(io.Discard, res.Body) // a stream read to its end is billed as delivered
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("seed call: %d", res.StatusCode)
		}
	}
	n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "sim-1" && r.Stream && r.Status == 200 })
	b := newBrowser(t, n.srv.URL)

	// Signed out: every page leads to the sign-in form; a bad token fails.
	b.page("/console/usage", "#token")
	if loc := b.location(); !strings.HasPrefix(loc, "/console/login?next=") {
		t.Fatalf("signed out, /console/usage went to %s", loc)
	}
	b.screenshot("login")
	b.run("bad token", chromedp.SendKeys(css("#token"), "not-the-token-0123456789"),
		chromedp.Submit(css("#login-form")), chromedp.WaitVisible(css(".error")))
	if msg := b.text(".error"); !strings.Contains(msg, "not valid") {
		t.Fatalf("bad token message %q", msg)
	}
	b.run("sign in", chromedp.SendKeys(css("#token"), consoleAdminToken),
		chromedp.Submit(css("#login-form")), chromedp.WaitVisible(css("#usage-filter")))

	// Every page renders with data.
	b.page("/console/", "#totals")
	if got := b.text("#stat-requests"); got == "0" || got == "" {
		t.Fatalf("dashboard requests = %q", got)
	}
	charts := value(b, "count charts", chromedp.Evaluate[int](`document.querySelectorAll("svg.chart polyline, svg.chart circle").length`))
	if charts < 5 {
		t.Fatalf("%d chart lines on the dashboard", charts)
	}
	b.screenshot("dashboard")
	for _, p := range []struct{ path, sel, want string }{
		{"/console/channels", "#channels", "sim"},
		{"/console/keys", "#keys", "alice"},
		{"/console/usage", "#usage", "sim-1"},
		{"/console/prices", "#prices", "gpt-4o"},
		{"/console/tasks", "#no-tasks", "task subsystem"},
		{"/console/playground", "#playground-form", "sim-1"},
	} {
		b.page(p.path, p.sel)
		if got := b.text("main"); !strings.Contains(got, p.want) {
			t.Fatalf("%s lacks %q:\n%s", p.path, p.want, got)
		}
		b.screenshot(strings.TrimPrefix(p.path, "/console/"))
	}
	// A call's detail.
	b.run("open a call", chromedp.Navigate(n.srv.URL+"/console/usage"), chromedp.Click(css("#usage tbody a")),
		chromedp.WaitVisible(css("#call")))
	if got := b.text("#usage-source"); got != "upstream" {
		t.Fatalf("usage source %q", got)
	}
	b.screenshot("call")

	// Create a key: the secret is shown once.
	b.page("/console/keys", "#key-create")
	b.run("create key", chromedp.SendKeys(css("#key-name"), "browser-key"),
		chromedp.Submit(css("#key-create")), chromedp.WaitVisible(css("#secret")))
	secret := b.text("#secret")
	if _, err := n.app.store.KeyByHash(context.Background(), httpapi.HashKey(secret)); !strings.HasPrefix(secret, "sk-sb-") || err != nil {
		t.Fatalf("created key secret %q: %v", secret, err)
	}
	b.screenshot("key-created")
	b.page("/console/keys", "#keys")
	if strings.Contains(b.text("main"), secret) {
		t.Fatal("the key's secret is shown a second time")
	}

	// Test the channel: a real call through the engine to the simulator.
	b.page("/console/channels", "#channels")
	b.run("test channel", chromedp.Click(css("#channels button.test")), chromedp.WaitVisible(css("#test-result")))
	if got := b.text("#test-answer"); !strings.Contains(got, "Simulated") {
		t.Fatalf("test answer %q", got)
	}
	b.screenshot("channel-tested")

	// Disable the channel (the confirm dialog is accepted), then enable it.
	b.run("disable channel", chromedp.Click(css("#channels button.disable")), chromedp.WaitVisible(css("#channels button.enable")))
	if got := b.text("#channels td.state"); got != "disabled" {
		t.Fatalf("channel state %q after disable", got)
	}
	if ch, _ := n.app.store.ChannelByID(context.Background(), 1); ch.Enabled {
		t.Fatal("disabled in the console, enabled in the store")
	}
	b.screenshot("channel-disabled")
	b.run("enable channel", chromedp.Click(css("#channels button.enable")), chromedp.WaitVisible(css("#channels button.disable")))

	// Filter the usage log and export it.
	b.page("/console/usage", "#usage-filter")
	b.run("filter by model", chromedp.SetValue(css("#filter-model"), "sim-1"),
		chromedp.Submit(css("#usage-filter")), chromedp.WaitVisible(css("#usage tbody a")))
	if loc := b.location(); !strings.Contains(loc, "model=sim-1") {
		t.Fatalf("filtered at %s", loc)
	}
	csv := value(b, "export csv", chromedp.Evaluate[string](`fetch(document.getElementById("export").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); !strings.HasPrefix(lines[0], "request_id,") || len(lines) < 4 {
		t.Fatalf("exported csv:\n%s", csv)
	}
	b.run("filter to nothing", chromedp.SetValue(css("#filter-model"), "no-such-model"),
		chromedp.Submit(css("#usage-filter")), chromedp.WaitVisible(css("#usage-total")))
	if got := b.text("#usage tbody"); !strings.Contains(got, "No calls match") {
		t.Fatalf("filtered to nothing: %q", got)
	}
	b.screenshot("usage-filtered")

	// The playground streams an answer billed to the chosen key.
	b.page("/console/playground", "#playground-form")
	b.run("send in the playground", chromedp.SendKeys(css("#pg-prompt"), "Say something"),
		chromedp.Click(css("#pg-send")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.getElementById("pg-timing").textContent.includes("in all")`, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
			return err
		}))
	if got := b.text("#pg-answer"); !strings.Contains(got, "Simulated reply") {
		t.Fatalf("playground answer %q", got)
	}
	n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "console.playground" && r.KeyName == "alice" })
	b.screenshot("playground")

	// A form whose CSRF token was tampered with is refused.
	b.page("/console/channels", "#channels")
	b.run("tamper csrf", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`document.querySelectorAll("input[name=csrf]").forEach(i => i.value = "forged")`)(ctx, t)
		return err
	}),
		chromedp.Click(css("#channels button.test")), chromedp.WaitVisible(css(".error")))
	if msg := b.text(".error"); !strings.Contains(msg, "security token") {
		t.Fatalf("forged csrf: %q", msg)
	}
	b.screenshot("csrf-refused")

	// Phone width: no page scrolls sideways (wide tables scroll inside
	// their own box).
	b.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, path := range []string{"/console/", "/console/channels", "/console/keys", "/console/usage", "/console/playground"} {
		b.page(path, "main")
		over := value(b, "measure "+path, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if over {
			b.screenshot("phone-overflow-" + strings.Trim(path, "/"))
			t.Fatalf("%s scrolls sideways at phone width", path)
		}
	}
	b.screenshot("phone-playground")
	b.run("desktop width", chromedp.ResetViewport())

	// Sign out: the session is gone.
	b.page("/console/", "#logout")
	b.run("sign out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#token")))
	b.page("/console/keys", "#token")
	t.Logf("screenshots in %s", b.dir)
}
