package main

// Gemini image models end to end: genai's generateContent with image
// output passed through to a Gemini channel (thoughtSignature of image
// parts kept across an edit turn, streamed and not), and openai-go's
// images calls translated to generateContent (size as imageConfig,
// answers as b64_json, edits with the uploads inline, streams emulated).

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const gemImgConfig = `
channels:
  - name: gem-img
    type: gemini
    base_url: %s
    api_keys: [gemini-img-key]
    models: [gemini-2.5-flash-image, nano-banana]
    model_map: {nano-banana: gemini-2.5-flash-image}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

func startGeminiImages(t *testing.T) (*node, *gatewaytest.Upstream) {
	t.Helper()
	up := gatewaytest.NewUpstream(t, gatewaytest.GeminiImages())
	n := startNode(t, gemImgConfig, up.URL)
	return n, up
}

// 12 prompt tokens at $0.30, 10 text at $2.50 and 1290 image tokens at
// $30 per million.
const gemImgCost = 12*300 + 10*2500 + 1290*30000

func TestGeminiImagesPassThrough(t *testing.T) {
	t.Parallel()
	n, up := startGeminiImages(t)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: n.srv.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{
		ResponseModalities: []string{"TEXT", "IMAGE"},
		ImageConfig:        &genai.ImageConfig{AspectRatio: "16:9"},
	}
	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("a lighthouse"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts := resp.Candidates[0].Content.Parts
	if len(parts) != 2 || parts[1].InlineData == nil || !bytes.Equal(parts[1].InlineData.Data, gatewaytest.ImageBytes("a lighthouse", 0, 0)) ||
		string(parts[1].ThoughtSignature) == "" {
		t.Fatalf("parts %+v", parts)
	}
	sig := parts[1].ThoughtSignature
	got := up.Last(t)
	if gjson.GetBytes(got.Body, "generationConfig.imageConfig.aspectRatio").Str != "16:9" || gjson.GetBytes(got.Body, "generationConfig.responseModalities.1").Str != "IMAGE" {
		t.Errorf("upstream got %s", got.Body)
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gemini-2.5-flash-image" && !r.Stream })
	if rec.Usage.ImageOutputTokens != 1290 || rec.CostNanoUSD != gemImgCost {
		t.Errorf("ledger cost %d want %d: %+v", rec.CostNanoUSD, gemImgCost, rec)
	}

	// The edit turn replays the image part with its signature.
	history := []*genai.Content{
		genai.NewContentFromText("a lighthouse", genai.RoleUser),
		{Role: genai.RoleModel, Parts: parts},
		{Role: genai.RoleUser, Parts: []*genai.Part{{Text: "make it night"}, {InlineData: &genai.Blob{MIMEType: "image/jpeg", Data: []byte("JPEGDATA")}}}},
	}
	st := c.Models.GenerateContentStream(ctx, "nano-banana", history, cfg)
	var images int
	for r, err := range st {
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Candidates[0].Content.Parts {
			if p.InlineData != nil {
				images++
			}
		}
	}
	if images != 1 {
		t.Errorf("%d images streamed", images)
	}
	got = up.Last(t)
	if !strings.Contains(got.Path, "gemini-2.5-flash-image:streamGenerateContent") {
		t.Errorf("path %s", got.Path)
	}
	if s := gjson.GetBytes(got.Body, "contents.1.parts.1.thoughtSignature").Str; s != base64.StdEncoding.EncodeToString(sig) {
		t.Errorf("the image part's signature reached the upstream as %q: %s", s, got.Body)
	}
	if gjson.GetBytes(got.Body, "contents.2.parts.1.inlineData.mimeType").Str != "image/jpeg" {
		t.Errorf("the edit's input image did not pass: %s", got.Body)
	}
}

func TestOpenAIImagesToGemini(t *testing.T) {
	t.Parallel()
	n, up := startGeminiImages(t)
	n.skipSchemaCheck("images answers are not chat answers")
	c := n.client(testKey, "/v1")
	ctx := context.Background()

	t.Run("generation", func(t *testing.T) {
		resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "nano-banana", Prompt: "a lighthouse", Size: "1536x1024", N: openai.Int(2)})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || resp.Data[1].B64JSON != b64(gatewaytest.ImageBytes("a lighthouse", 1, 0)) || resp.Usage.OutputTokens != 1300 {
			t.Fatalf("answer %+v usage %+v", resp.Data, resp.Usage)
		}
		got := up.Last(t)
		if got.Path != "/v1beta/models/gemini-2.5-flash-image:generateContent" || got.Header.Get("X-Goog-Api-Key") != "gemini-img-key" {
			t.Errorf("upstream got %s %v", got.Path, got.Header)
		}
		gen := gjson.GetBytes(got.Body, "generationConfig")
		if gen.Get("imageConfig.aspectRatio").Str != "3:2" || gen.Get("imageConfig.imageSize").Str != "2K" || gen.Get("candidateCount").Int() != 2 ||
			gjson.GetBytes(got.Body, "contents.0.parts.0.text").Str != "a lighthouse" {
			t.Errorf("upstream body %s", got.Body)
		}
		rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "images.generations" })
		if rec.ChannelName != "gem-img" || rec.CostNanoUSD != gemImgCost {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("url asked, bytes answered: served by the gateway", func(t *testing.T) {
		resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Model: "nano-banana", Prompt: "a gull", ResponseFormat: "url"})
		if err != nil {
			t.Fatal(err)
		}
		u := resp.Data[0].URL
		if !strings.HasPrefix(u, n.srv.URL+"/v1/media/") || !strings.Contains(u, "sig=") {
			t.Fatalf("url %q", u)
		}
		// No key needed: the URL is the credential.
		got, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if got.StatusCode != 200 || got.Header.Get("Content-Type") != "image/png" || !bytes.Equal(b, gatewaytest.ImageBytes("a gull", 0, 0)) {
			t.Errorf("%d %s %q", got.StatusCode, got.Header.Get("Content-Type"), b)
		}
		for _, bad := range []string{strings.Replace(u, "sig=", "sig=x", 1), strings.Replace(u, "/v1/media/1/", "/v1/media/2/", 1)} {
			got, err := http.Get(bad)
			if err != nil {
				t.Fatal(err)
			}
			got.Body.Close()
			if got.StatusCode != http.StatusForbidden {
				t.Errorf("tampered %s → %d", bad, got.StatusCode)
			}
		}
	})

	t.Run("edit with uploads inline", func(t *testing.T) {
		resp, err := c.Images.Edit(ctx, openai.ImageEditParams{
			Model: "nano-banana", Prompt: "add a moon",
			Image: openai.ImageEditParamsImageUnion{OfFileArray: []io.Reader{
				openai.File(strings.NewReader("PNG-A"), "a.png", "image/png"),
				openai.File(strings.NewReader("WEBP-B"), "b.webp", "image/webp"),
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 {
			t.Fatalf("answer %+v", resp)
		}
		parts := gjson.GetBytes(up.Last(t).Body, "contents.0.parts").Array()
		if len(parts) != 3 || parts[1].Get("inlineData.mimeType").Str != "image/png" || parts[1].Get("inlineData.data").Str != b64([]byte("PNG-A")) ||
			parts[2].Get("inlineData.mimeType").Str != "image/webp" {
			t.Errorf("upstream parts %v", parts)
		}
	})

	t.Run("a mask is refused, not dropped", func(t *testing.T) {
		before := up.Count()
		_, err := c.Images.Edit(ctx, openai.ImageEditParams{
			Model: "nano-banana", Prompt: "x",
			Image: openai.ImageEditParamsImageUnion{OfFile: openai.File(strings.NewReader("PNG"), "a.png", "image/png")},
			Mask:  openai.File(strings.NewReader("MASK"), "m.png", "image/png"),
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.Param != "mask" || !strings.Contains(apiErr.Message, "mask") || up.Count() != before {
			t.Errorf("err %v, upstream calls %d → %d", err, before, up.Count())
		}
	})

	t.Run("stream emulated", func(t *testing.T) {
		st := c.Images.GenerateStreaming(ctx, openai.ImageGenerateParams{Model: "nano-banana", Prompt: "a crane", PartialImages: openai.Int(1)})
		var types []string
		for st.Next() {
			ev := st.Current()
			types = append(types, ev.Type)
			if ev.B64JSON != b64(gatewaytest.ImageBytes("a crane", 0, 0)) || ev.Usage.OutputTokens != 1300 {
				t.Errorf("event %s usage %+v", ev.Type, ev.Usage)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(types, ",") != "image_generation.completed" {
			t.Errorf("events %v", types)
		}
		if strings.Contains(up.Last(t).Path, "stream") {
			t.Error("the upstream was asked to stream")
		}
	})

	t.Run("variations stay with OpenAI channels", func(t *testing.T) {
		resp := n.post(t, "/v1/images/variations", testKey, "", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

// A Gemini client asking an OpenAI image model for images is translated
// to /v1/images/generations, streamed and not.
func TestGeminiImagesToOpenAI(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIImages{Tokens: true}.Handler())
	n := startNode(t, `
channels:
  - name: img
    type: openai
    base_url: %s
    api_keys: [k]
    models: [gpt-image-1]
keys:
  - name: alice
    key: `+testKey+`
    models: ["*"]
`, up.URL)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: n.srv.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &genai.GenerateContentConfig{ResponseModalities: []string{"IMAGE"}, ImageConfig: &genai.ImageConfig{AspectRatio: "16:9"}}
	resp, err := c.Models.GenerateContent(context.Background(), "gpt-image-1", genai.Text("a kite"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Candidates[0].Content.Parts[0]
	if p.InlineData == nil || !bytes.Equal(p.InlineData.Data, gatewaytest.ImageBytes("a kite", 0, 0)) || resp.UsageMetadata.CandidatesTokenCount != 4160 {
		t.Fatalf("answer %+v usage %+v", p, resp.UsageMetadata)
	}
	got := up.Last(t)
	if got.Path != "/v1/images/generations" || gjson.GetBytes(got.Body, "prompt").Str != "a kite" || gjson.GetBytes(got.Body, "size").Str != "1536x1024" {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}
	var images int
	for r, err := range c.Models.GenerateContentStream(context.Background(), "gpt-image-1", genai.Text("a kite"), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		images += len(r.Candidates)
	}
	if images != 1 {
		t.Errorf("%d images streamed", images)
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "streamGenerateContent" })
	if rec.Usage.OutputTokens != 4160 || rec.CostNanoUSD == 0 {
		t.Errorf("ledger %+v", rec)
	}
	// A conversation of several turns has no OpenAI image equivalent.
	history := []*genai.Content{genai.NewContentFromText("a", genai.RoleUser), genai.NewContentFromText("b", genai.RoleModel), genai.NewContentFromText("c", genai.RoleUser)}
	if _, err := c.Models.GenerateContent(context.Background(), "gpt-image-1", history, cfg); err == nil || !strings.Contains(err.Error(), "one turn") {
		t.Errorf("a multi-turn image call: %v", err)
	}
}
