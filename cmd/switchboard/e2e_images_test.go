package main

// OpenAI images end to end with openai-go: generations, edits (several
// images and a mask, multipart, spooled), variations, streaming with
// partial images megabytes long, failover that re-sends an upload, Azure
// deployments, prices per image and per token, budget holds, 413s.

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const imgKeyBudget = "sk-test-images-budget-0123"

const imgConfig = `
channels:
  - name: img-broken
    type: openai
    base_url: %s
    api_keys: [sk-broken]
    models: [gpt-image-1]
    priority: 20
  - name: img-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-img]
    models: [gpt-image-1, dall-e-3, dall-e-2, paint]
    model_map: {paint: dall-e-3}
    priority: 10
  - name: img-azure
    type: azure
    base_url: %s
    api_keys: [azure-img-key]
    models: [azure-dalle]
    model_map: {azure-dalle: dalle3-deploy}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: imgbudget
    key: ` + imgKeyBudget + `
    models: ["*"]
    budget_usd: 0.30
prices:
  dalle3-deploy: {units_usd: {image: 0.04, "image:1024x1792:hd": 0.12}}
`

type imgEnv struct {
	n                     *node
	broken, openai, azure *gatewaytest.Upstream
}

func startImages(t *testing.T, fake gatewaytest.OpenAIImages) *imgEnv {
	t.Helper()
	e := &imgEnv{
		broken: gatewaytest.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
		}),
		openai: gatewaytest.NewUpstream(t, fake.Handler()),
		azure:  gatewaytest.NewUpstream(t, fake.Handler()),
	}
	e.n = startNode(t, imgConfig, e.broken.URL, e.openai.URL, e.azure.URL)
	return e
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestImagesGenerate(t *testing.T) {
	t.Parallel()
	e := startImages(t, gatewaytest.OpenAIImages{})
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()

	t.Run("dall-e-3 priced per image by size and quality", func(t *testing.T) {
		resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{
			Model: "dall-e-3", Prompt: "an otter", N: openai.Int(2), Size: "1024x1792", Quality: "hd",
			ResponseFormat: "b64_json", Style: "vivid",
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || resp.Data[1].B64JSON != b64(gatewaytest.ImageBytes("an otter", 1, 0)) {
			t.Fatalf("answer %+v", resp.Data)
		}
		got := e.openai.Last(t)
		if got.Path != "/v1/images/generations" || gjson.GetBytes(got.Body, "style").Str != "vivid" || gjson.GetBytes(got.Body, "size").Str != "1024x1792" {
			t.Errorf("upstream got %s %s", got.Path, got.Body)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.generations" && r.Model == "dall-e-3" })
		if rec.CostNanoUSD != 2*120_000_000 || len(rec.Units) != 1 || rec.Units[0].Unit != "image:1024x1792:hd" || rec.Units[0].Count != 2 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("model map and url answers", func(t *testing.T) {
		resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "paint", Prompt: "a fox", ResponseFormat: "url"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 || !strings.HasSuffix(resp.Data[0].URL, "/img/0.png") {
			t.Fatalf("answer %+v", resp.Data)
		}
		if m := gjson.GetBytes(e.openai.Last(t).Body, "model").Str; m != "dall-e-3" {
			t.Errorf("upstream model %q", m)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "paint" })
		if rec.UpstreamModel != "dall-e-3" || rec.CostNanoUSD != 40_000_000 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("azure deployment", func(t *testing.T) {
		if _, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "azure-dalle", Prompt: "a hare"}); err != nil {
			t.Fatal(err)
		}
		got := e.azure.Last(t)
		if got.Path != "/openai/deployments/dalle3-deploy/images/generations" || got.Header.Get("Api-Key") != "azure-img-key" {
			t.Errorf("azure got %s %v", got.Path, got.Header)
		}
	})

	t.Run("caller mistakes in OpenAI's shape", func(t *testing.T) {
		for _, tc := range []struct{ body, param string }{
			{`{"model":"dall-e-3"}`, "prompt"},
			{`{"model":"dall-e-3","prompt":"x","n":11}`, "n"},
			{`{"model":"dall-e-3","prompt":"x","response_format":"png"}`, "response_format"},
			{`{"model":"dall-e-3","prompt":"x","partial_images":4}`, "partial_images"},
		} {
			resp := e.n.post(t, "/v1/images/generations", testKey, tc.body, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != tc.param || gjson.GetBytes(b, "error.type").Str != "invalid_request_error" {
				t.Errorf("%s → %d %s", tc.body, resp.StatusCode, b)
			}
		}
	})

	t.Run("variation", func(t *testing.T) {
		//lint:ignore SA1019 deprecated by OpenAI, still served by the platform and its clients
		resp, err := c.Images.NewVariation(ctx, openai.ImageNewVariationParams{
			Image: openai.File(strings.NewReader("PNG"), "otter.png", "image/png"), N: openai.Int(2), Size: "512x512",
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 {
			t.Fatalf("answer %+v", resp)
		}
		got := e.openai.Last(t)
		parts, err := gatewaytest.ParseForm(got)
		if err != nil || got.Path != "/v1/images/variations" || len(parts) == 0 || parts[0].FileName != "otter.png" {
			t.Errorf("upstream got %s %+v %v", got.Path, parts, err)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.variations" })
		// dall-e-2 without token usage: two 512x512 images at $0.018.
		if rec.CostNanoUSD != 2*18_000_000 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("budget key billed per image", func(t *testing.T) {
		bc := e.n.client(imgKeyBudget, "/v1")
		if _, err := bc.Images.Generate(ctx, openai.ImageGenerateParams{Model: "dall-e-3", Prompt: "x", N: openai.Int(2)}); err != nil {
			t.Fatal(err)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.KeyName == "imgbudget" })
		if rec.PriceNanoUSD != 2*40_000_000 {
			t.Errorf("ledger %+v", rec)
		}
	})
}

func TestImagesTokensAndStreaming(t *testing.T) {
	t.Parallel()
	// 3 MiB images: each partial image is one 4 MiB SSE line.
	const size = 3 << 20
	e := startImages(t, gatewaytest.OpenAIImages{Tokens: true, ImageSize: size})
	e.n.skipSchemaCheck("images are not chat answers")
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()

	t.Run("gpt-image priced by tokens after failover", func(t *testing.T) {
		resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "gpt-image-1", Prompt: "a heron", Quality: "high"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 || resp.Usage.OutputTokens != 4160 {
			t.Fatalf("answer usage %+v", resp.Usage)
		}
		if e.broken.Count() == 0 {
			t.Error("the higher-priority channel was not tried first")
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool {
			return r.Endpoint == "images.generations" && r.Model == "gpt-image-1" && !r.Stream
		})
		// 10 text tokens at $5, 40 image tokens at $10, 4160 output at $40 per million.
		if want := int64(10*5000 + 40*10000 + 4160*40000); rec.CostNanoUSD != want || rec.Attempts != 2 || len(rec.Units) != 0 {
			t.Errorf("ledger cost %d (want %d), attempts %d, units %v", rec.CostNanoUSD, want, rec.Attempts, rec.Units)
		}
	})

	t.Run("stream with megabyte partial images", func(t *testing.T) {
		st := c.Images.GenerateStreaming(ctx, openai.ImageGenerateParams{Model: "gpt-image-1", Prompt: "a crane", PartialImages: openai.Int(2)})
		var types []string
		for st.Next() {
			ev := st.Current()
			types = append(types, ev.Type)
			if len(ev.B64JSON) != base64.StdEncoding.EncodedLen(size) {
				t.Errorf("%s event carries %d base64 bytes", ev.Type, len(ev.B64JSON))
			}
			if ev.Type == "image_generation.completed" && ev.Usage.OutputTokens != 4160 {
				t.Errorf("completed usage %+v", ev.Usage)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		want := "image_generation.partial_image,image_generation.partial_image,image_generation.completed"
		if strings.Join(types, ",") != want {
			t.Errorf("events %v", types)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.generations" && r.Stream })
		if rec.Usage.OutputTokens != 4160 || rec.UsageSource != gateway.UsageFromUpstream || rec.TTFT <= 0 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("edit stream", func(t *testing.T) {
		st := c.Images.EditStreaming(ctx, openai.ImageEditParams{
			Model: "gpt-image-1", Prompt: "add a hat", PartialImages: openai.Int(1),
			Image: openai.ImageEditParamsImageUnion{OfFile: openai.File(strings.NewReader("PNG-1"), "cat.png", "image/png")},
		})
		var types []string
		for st.Next() {
			types = append(types, st.Current().Type)
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(types, ",") != "image_edit.partial_image,image_edit.completed" {
			t.Errorf("events %v", types)
		}
	})
}

func TestImagesEditUpload(t *testing.T) {
	t.Parallel()
	e := startImages(t, gatewaytest.OpenAIImages{Tokens: true})
	c := e.n.client(testKey, "/v1")
	ctx := context.Background()
	// Big enough to be spooled to disk past the 1 MiB in memory.
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB

	t.Run("several images and a mask re-sent on failover", func(t *testing.T) {
		resp, err := c.Images.Edit(ctx, openai.ImageEditParams{
			Model: "gpt-image-1", Prompt: "a gift basket", N: openai.Int(1),
			Image: openai.ImageEditParamsImageUnion{OfFileArray: []io.Reader{
				openai.File(bytes.NewReader(big), "incense-kit.png", "image/png"),
				openai.File(strings.NewReader("SOAP"), "soap.webp", "image/webp"),
			}},
			Mask: openai.File(strings.NewReader("MASK"), "mask.png", "image/png"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 {
			t.Fatalf("answer %+v", resp)
		}
		// Both channels received the same whole upload.
		for _, up := range []*gatewaytest.Upstream{e.broken, e.openai} {
			got := up.Last(t)
			if got.Path != "/v1/images/edits" {
				t.Errorf("path %s", got.Path)
			}
			parts, err := gatewaytest.ParseForm(got)
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, p := range parts {
				if p.FileName != "" {
					files = append(files, p.Name+"="+p.FileName+"("+p.ContentType+")")
				}
				if p.FileName == "incense-kit.png" && !bytes.Equal(p.Content, big) {
					t.Errorf("the big image arrived as %d bytes", len(p.Content))
				}
			}
			want := "image[]=incense-kit.png(image/png),image[]=soap.webp(image/webp),mask=mask.png(image/png)"
			if strings.Join(files, ",") != want {
				t.Errorf("files %v, want %s", files, want)
			}
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.edits" })
		if rec.Attempts != 2 || rec.Usage.OutputTokens != 4160 {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("default model named for a mapped channel", func(t *testing.T) {
		// No model field: OpenAI's default (dall-e-2) routes, and is sent.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("image", "a.png")
		_, _ = fw.Write([]byte("PNG"))
		_ = mw.WriteField("prompt", "x")
		_ = mw.Close()
		resp := e.n.post(t, "/v1/images/edits", testKey, body.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.edits" && r.Model == "dall-e-2" })
		if rec.ChannelName != "img-openai" {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("missing image", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("prompt", "x")
		_ = mw.Close()
		resp := e.n.post(t, "/v1/images/edits", testKey, body.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != "image" {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})

	t.Run("upload over the route's limit is a 413", func(t *testing.T) {
		// Variations take at most 8 MiB.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("image", "huge.png")
		_, _ = fw.Write(bytes.Repeat([]byte{1}, 9<<20))
		_ = mw.Close()
		before := e.openai.Count()
		resp := e.n.post(t, "/v1/images/variations", testKey, body.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || gjson.GetBytes(b, "error.code").Str != "request_too_large" {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
		if e.openai.Count() != before {
			t.Error("an oversized upload reached the upstream")
		}
	})
}

// With media.proxy on, the upstream's image URLs are fetched, stored and
// answered as the gateway's own signed URLs.
func TestImagesProxiedURLs(t *testing.T) {
	t.Parallel()
	imgHost := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(gatewaytest.ImageBytes(r.URL.Path, 0, 0))
	})
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIImages{URLBase: imgHost.URL}.Handler())
	n := startNode(t, `
channels:
  - name: img
    type: openai
    base_url: %s
    api_keys: [k]
    models: [dall-e-3]
keys:
  - name: alice
    key: `+testKey+`
    models: ["*"]
media:
  proxy: true
  url_ttl: 10m
`, up.URL)
	c := n.client(testKey, "/v1")
	resp, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{Model: "dall-e-3", Prompt: "x", N: openai.Int(2), ResponseFormat: "url"})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range resp.Data {
		if !strings.HasPrefix(d.URL, n.srv.URL+"/v1/media/") || strings.Contains(d.URL, imgHost.URL) {
			t.Fatalf("url %d = %q", i, d.URL)
		}
		got, err := http.Get(d.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if want := gatewaytest.ImageBytes("/img/"+string(rune('0'+i))+".png", 0, 0); !bytes.Equal(b, want) {
			t.Errorf("image %d: %q", i, b)
		}
	}
	if imgHost.Count() != 2 {
		t.Errorf("the image host was asked %d times", imgHost.Count())
	}
}
