//lint:file-ignore SA1019 OpenAI retired its own Sora service, but resellers serve the same Videos API shape: the SDK methods are what their clients call.

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const videoConfig = `
channels:
  - name: sora-reseller
    type: openai-compatible
    base_url: %s
    api_keys: [sk-upstream-video, sk-upstream-video-2]
    models: [sora-2, sora-2-pro, video-alias]
    model_map: {video-alias: sora-2}
  - name: veo
    type: gemini
    base_url: %s
    api_keys: [veo-upstream-key]
    models: [veo-3.0-generate-001]
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
    budget_usd: 10
prices:
  video-alias: {units_usd: {video_second: 0.05}}
tasks:
  poll_interval: 50ms
  max_poll_interval: 200ms
  fetch_interval: 10ms
  hook_secret: whsec-video
  hook_allow_private: true
`

func videoClient(n *taskNode, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(n.srv.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// waitVideo polls a video until it ends, returning the statuses seen.
func waitVideo(t *testing.T, c openai.Client, id string) (*openai.Video, []string) {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := c.Videos.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if strings.Contains(v.RawJSON(), "video_up_") || strings.Contains(v.RawJSON(), "operations/") {
			t.Fatalf("video object leaks the upstream's id: %s", v.RawJSON())
		}
		seen = append(seen, fmt.Sprintf("%s:%d", v.Status, v.Progress))
		if v.Status == openai.VideoStatusCompleted || v.Status == openai.VideoStatusFailed {
			return v, seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s did not end: %v", id, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(err error) int {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

func TestVideosOpenAIPassThrough(t *testing.T) {
	up := gatewaytest.NewOpenAIVideos(t, 800*time.Millisecond, "sk-upstream-video", "sk-upstream-video-2")
	veo := gatewaytest.NewVeo(t, "veo-upstream-key", 300*time.Millisecond)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(videoConfig, up.URL, veo.URL))
	alice, bob := videoClient(n, testKey), videoClient(n, testKeyLimit)
	ctx := context.Background()

	ref := []byte("\x89PNG\r\n\x1a\nreference")
	v, err := alice.Videos.New(ctx, openai.VideoNewParams{
		Prompt: "a cat on a skateboard", Model: openai.VideoModelSora2, Seconds: openai.VideoSeconds8, Size: openai.VideoSize1280x720,
		InputReference: openai.VideoNewParamsInputReferenceUnion{OfFile: openai.File(bytes.NewReader(ref), "ref.png", "image/png")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "video_") || strings.HasPrefix(v.ID, "video_up_") || v.Object != "video" || v.Model != "sora-2" {
		t.Fatalf("created %s", v.RawJSON())
	}
	if got := up.Reference("video_up_1"); !bytes.Equal(got, ref) {
		t.Fatalf("upstream got reference %q", got)
	}
	if v.CreatedAt < time.Now().Add(-time.Minute).Unix() || v.CreatedAt > time.Now().Add(time.Minute).Unix() {
		t.Fatalf("created_at %d is not Unix seconds", v.CreatedAt)
	}
	done, seen := waitVideo(t, alice, v.ID)
	if done.Status != openai.VideoStatusCompleted || done.Progress != 100 || done.Seconds != "8" || done.Size != "1280x720" ||
		done.CompletedAt < done.CreatedAt || done.Prompt != "a cat on a skateboard" {
		t.Fatalf("completed video %s", done.RawJSON())
	}
	moved := false
	for _, s := range seen {
		if strings.HasPrefix(s, "in_progress:") && s != "in_progress:0" {
			moved = true
		}
	}
	if !moved {
		t.Fatalf("polling never saw progress: %v", seen)
	}

	// The next submission goes to the channel's other key (another project
	// upstream): its polls and download use that key.
	carol := videoClient(n, testKeyBudget)
	v2, err := carol.Videos.New(ctx, openai.VideoNewParams{Prompt: "second project", Model: openai.VideoModelSora2})
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := waitVideo(t, carol, v2.ID); d2.Status != openai.VideoStatusCompleted {
		t.Fatalf("second video %s", d2.RawJSON())
	}
	if resp, err := carol.Videos.DownloadContent(ctx, v2.ID, openai.VideoDownloadContentParams{}); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "MP4:video_up_2:video" {
			t.Fatalf("second video content %q", b)
		}
	}

	// Content through the gateway, the thumbnail's redirect followed by it.
	for _, tc := range []struct {
		variant openai.VideoDownloadContentParamsVariant
		want    string
	}{{"", "MP4:video_up_1:video"}, {openai.VideoDownloadContentParamsVariantThumbnail, "WEBP:video_up_1.webp"}} {
		resp, err := alice.Videos.DownloadContent(ctx, v.ID, openai.VideoDownloadContentParams{Variant: tc.variant})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Fatalf("content %q: %q, want %q", tc.variant, b, tc.want)
		}
	}

	// Another key sees nothing of it.
	if _, err := bob.Videos.Get(ctx, v.ID); statusOf(err) != http.StatusNotFound {
		t.Fatalf("other key get: %v", err)
	}
	if _, err := bob.Videos.DownloadContent(ctx, v.ID, openai.VideoDownloadContentParams{}); statusOf(err) != http.StatusNotFound {
		t.Fatalf("other key download: %v", err)
	}
	if _, err := bob.Videos.Remix(ctx, v.ID, openai.VideoRemixParams{Prompt: "x"}); statusOf(err) != http.StatusNotFound {
		t.Fatalf("other key remix: %v", err)
	}
	if _, err := bob.Videos.Delete(ctx, v.ID); statusOf(err) != http.StatusNotFound {
		t.Fatalf("other key delete: %v", err)
	}
	if page, err := bob.Videos.List(ctx, openai.VideoListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("other key list: %v %v", page, err)
	}

	// Remix on the same channel, with the upstream's id.
	remix, err := alice.Videos.Remix(ctx, v.ID, openai.VideoRemixParams{Prompt: "now in the rain"})
	if err != nil {
		t.Fatal(err)
	}
	if remix.RemixedFromVideoID != v.ID || remix.ID == v.ID {
		t.Fatalf("remix %s", remix.RawJSON())
	}
	if last := lastSubmit(up); last.Path != "/v1/videos/video_up_1/remix" {
		t.Fatalf("upstream remix path %s", last.Path)
	}
	if r, _ := waitVideo(t, alice, remix.ID); r.Status != openai.VideoStatusCompleted {
		t.Fatalf("remix ended %s", r.RawJSON())
	}
	page, err := alice.Videos.List(ctx, openai.VideoListParams{Limit: openai.Int(1)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != remix.ID || !page.HasMore {
		t.Fatalf("list page 1: %+v %v", page, err)
	}
	page, err = alice.Videos.List(ctx, openai.VideoListParams{After: openai.String(remix.ID)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != v.ID || page.HasMore {
		t.Fatalf("list page 2: %+v %v", page, err)
	}
	del, err := alice.Videos.Delete(ctx, remix.ID)
	if err != nil || !del.Deleted || del.ID != remix.ID {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := alice.Videos.Get(ctx, remix.ID); statusOf(err) != http.StatusNotFound {
		t.Fatalf("get after delete: %v", err)
	}

	// The channel's two keys took turns, and every later call for a video
	// used the key that made it (each key is its own project upstream).
	made := map[string]string{} // upstream id → key
	keys := map[string]bool{}
	for i, req := range up.Requests() {
		auth := req.Header.Get("Authorization")
		if req.Method == http.MethodPost && (req.Path == "/v1/videos" || strings.HasSuffix(req.Path, "/remix")) {
			keys[auth] = true
			made[fmt.Sprintf("video_up_%d", len(made)+1)] = auth
			continue
		}
		for id, k := range made {
			if strings.HasPrefix(req.Path, "/v1/videos/"+id) && (len(req.Path) == len("/v1/videos/"+id) || req.Path[len("/v1/videos/"+id)] == '/') && auth != k {
				t.Fatalf("request %d %s %s used another key than the one that made %s", i, req.Method, req.Path, id)
			}
		}
	}
	if len(keys) != 2 {
		t.Fatalf("the channel's keys used for submissions: %d, want both", len(keys))
	}

	// Billed once per video, per second at its resolution (sora-2 at
	// 1280x720 is $0.10 a second in the built-in table).
	var recs []gateway.UsageRecord
	gatewaytest.WaitFor(t, 30*time.Second, "the ledger record", func() bool { recs = n.ledgerFor(t, v.ID); return len(recs) > 0 })
	if len(recs) != 1 || recs[0].PriceNanoUSD != gateway.NanoUSD(0.80) || recs[0].Endpoint != "videos.create" {
		t.Fatalf("ledger %+v", recs)
	}

	// Upstream refusals in OpenAI's error shape, and bad input.
	if _, err := alice.Videos.New(ctx, openai.VideoNewParams{Prompt: "reject this", Model: openai.VideoModelSora2}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("rejected: %v", err)
	}
	if status, raw := n.do(t, http.MethodPost, "/v1/videos", testKey, `{"prompt":"reject this"}`, nil); status != http.StatusBadRequest ||
		!strings.Contains(gjson.GetBytes(raw, "error.message").String(), "rejected by the upstream") {
		t.Fatalf("rejected → %d %s", status, raw)
	}
	for _, body := range []string{`{"model":"sora-2"}`, `{"prompt":"x","seconds":"eight"}`, `{"prompt":"x","size":"big"}`, `{"prompt":"x","model":"nope"}`, `[`} {
		status, raw := n.do(t, http.MethodPost, "/v1/videos", testKey, body, nil)
		if status < 400 || status >= 500 || !gjson.GetBytes(raw, "error.message").Exists() {
			t.Errorf("%s → %d %s", body, status, raw)
		}
	}
}

func TestVideosVeoAndFailures(t *testing.T) {
	up := gatewaytest.NewOpenAIVideos(t, 300*time.Millisecond, "sk-upstream-video", "sk-upstream-video-2")
	veo := gatewaytest.NewVeo(t, "veo-upstream-key", 300*time.Millisecond)
	hooks := newHookReceiver(t, "whsec-video")
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(videoConfig, up.URL, veo.URL))
	carol := videoClient(n, testKeyBudget)
	ctx := context.Background()

	ref := []byte("\x89PNG\r\n\x1a\nfirst frame")
	v, err := carol.Videos.New(ctx, openai.VideoNewParams{Prompt: "waves at dusk", Model: "veo-3.0-generate-001", Seconds: openai.VideoSeconds8, Size: openai.VideoSize1280x720,
		InputReference: openai.VideoNewParamsInputReferenceUnion{OfFile: openai.File(bytes.NewReader(ref), "frame.png", "image/png")}})
	if err != nil {
		t.Fatal(err)
	}
	sent := gjson.ParseBytes(veo.Requests()[0].Body)
	if img, _ := base64.StdEncoding.DecodeString(sent.Get("instances.0.image.bytesBase64Encoded").String()); !bytes.Equal(img, ref) ||
		sent.Get("instances.0.image.mimeType").String() != "image/png" {
		t.Fatalf("veo image %s", sent.Get("instances.0.image").Raw)
	}
	if sent.Get("instances.0.prompt").String() != "waves at dusk" || sent.Get("parameters.durationSeconds").Int() != 8 ||
		sent.Get("parameters.aspectRatio").String() != "16:9" || veo.Requests()[0].Path != "/v1beta/models/veo-3.0-generate-001:predictLongRunning" {
		t.Fatalf("predictLongRunning request %s %s", veo.Requests()[0].Path, veo.Requests()[0].Body)
	}
	done, _ := waitVideo(t, carol, v.ID)
	if done.Status != openai.VideoStatusCompleted || done.Seconds != "8" || done.Model != "veo-3.0-generate-001" {
		t.Fatalf("veo video %s", done.RawJSON())
	}
	resp, err := carol.Videos.DownloadContent(ctx, v.ID, openai.VideoDownloadContentParams{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "VEO:f1" {
		t.Fatalf("veo content %q", b)
	}
	gatewaytest.WaitFor(t, 30*time.Second, "the veo bill", func() bool {
		recs := n.ledgerFor(t, v.ID)
		return len(recs) == 1 && recs[0].PriceNanoUSD == gateway.NanoUSD(8*0.40)
	})

	// A video that fails releases its hold; its webhook says video.failed.
	status, raw := n.do(t, http.MethodPost, "/v1/videos", testKeyBudget,
		`{"model":"sora-2","prompt":"this will fail","seconds":"4","callback_url":"`+hooks.URL+`"}`, nil)
	if status != http.StatusOK {
		t.Fatalf("create → %d %s", status, raw)
	}
	if gjson.GetBytes(lastSubmit(up).Body, "callback_url").Exists() {
		t.Fatal("the callback URL reached the upstream")
	}
	id := gjson.GetBytes(raw, "id").String()
	failed, _ := waitVideo(t, carol, id)
	if failed.Status != openai.VideoStatusFailed || failed.Error.Message == "" {
		t.Fatalf("failed video %s", failed.RawJSON())
	}
	gatewaytest.WaitFor(t, 30*time.Second, "the failure webhook", func() bool {
		return hooks.count(func(m map[string]any) bool {
			d, _ := m["data"].(map[string]any)
			return m["type"] == "video.failed" && d["id"] == id
		}) == 1
	})
	if hooks.bad.Load() != 0 {
		t.Fatal("a webhook had a bad signature")
	}
	gatewaytest.WaitFor(t, 30*time.Second, "holds settled", func() bool { return n.key(t, testKeyBudget).ReservedNanoUSD == 0 })
	if k := n.key(t, testKeyBudget); k.SpentNanoUSD != gateway.NanoUSD(8*0.40) {
		t.Fatalf("spent %d, want the veo video only", k.SpentNanoUSD)
	}

	// An operator price for the client model wins: video-alias is
	// $0.05 a second whatever it maps to.
	va, err := carol.Videos.New(ctx, openai.VideoNewParams{Prompt: "alias", Model: "video-alias", Seconds: openai.VideoSeconds4})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.Model("video_up_2"); got != "sora-2" {
		t.Fatalf("upstream model %q, want the mapped sora-2", got)
	}
	waitVideo(t, carol, va.ID)
	gatewaytest.WaitFor(t, 30*time.Second, "the alias bill", func() bool {
		recs := n.ledgerFor(t, va.ID)
		return len(recs) == 1 && recs[0].PriceNanoUSD == gateway.NanoUSD(4*0.05)
	})
}

// new-api's unified video endpoints, for clients written against them.
func TestVideoGenerations(t *testing.T) {
	up := gatewaytest.NewOpenAIVideos(t, 300*time.Millisecond, "sk-upstream-video", "sk-upstream-video-2")
	veo := gatewaytest.NewVeo(t, "veo-upstream-key", time.Second)
	n := startTaskNode(t, t.TempDir(), fmt.Sprintf(videoConfig, up.URL, veo.URL))
	status, raw := n.do(t, http.MethodPost, "/v1/video/generations", testKey, `{"model":"sora-2","prompt":"a dog","duration":4,"width":1280,"height":720}`, nil)
	if status != http.StatusOK || gjson.GetBytes(raw, "task_id").String() == "" {
		t.Fatalf("generations → %d %s", status, raw)
	}
	id := gjson.GetBytes(raw, "task_id").String()
	var env []byte
	gatewaytest.WaitFor(t, 45*time.Second, "the generation to complete", func() bool {
		_, env = n.do(t, http.MethodGet, "/v1/video/generations/"+id, testKey, "", nil)
		return gjson.GetBytes(env, "status").String() == "completed"
	})
	g := gjson.ParseBytes(env)
	if g.Get("format").String() != "mp4" || g.Get("metadata.width").Int() != 1280 || g.Get("metadata.duration").Int() != 4 ||
		!strings.HasPrefix(g.Get("url").String(), n.srv.URL+"/v1/videos/"+id+"/content") {
		t.Fatalf("envelope %s", env)
	}
	if status, _ := n.do(t, http.MethodGet, "/v1/video/generations/"+id, testKeyLimit, "", nil); status != http.StatusNotFound {
		t.Fatalf("other key → %d", status)
	}
	status, content := n.do(t, http.MethodGet, strings.TrimPrefix(g.Get("url").String(), n.srv.URL), testKey, "", nil)
	if status != http.StatusOK || string(content) != "MP4:video_up_1:video" {
		t.Fatalf("content → %d %q", status, content)
	}
	if sent := gjson.ParseBytes(up.Requests()[0].Body); sent.Get("seconds").String() != "4" || sent.Get("size").String() != "1280x720" {
		t.Fatalf("upstream request %s", up.Requests()[0].Body)
	}
}
