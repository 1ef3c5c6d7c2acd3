package main

// A Gemini client editing images (generateContent with IMAGE output and
// inlineData input images) on an OpenAI image model: translated to a
// multipart POST /v1/images/edits, re-sent whole on failover, answered as
// Gemini inlineData.

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"google.golang.org/genai"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const gemEditConfig = `
channels:
  - name: broken
    type: openai
    base_url: %s
    api_keys: [k-broken]
    models: [gpt-image-1, dall-e-2]
    priority: 10
  - name: img
    type: openai
    base_url: %s
    api_keys: [k]
    models: [gpt-image-1, dall-e-2]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

func TestGeminiImageEditsToOpenAI(t *testing.T) {
	t.Parallel()
	broken := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
	})
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIImages{Tokens: true}.Handler())
	n := startNode(t, gemEditConfig, broken.URL, up.URL)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: n.srv.URL, APIVersion: "v1beta"},
	})
	if err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\n-input-a")
	jpeg := bytes.Repeat([]byte("JPEG-B"), 200_000) // 1.2 MB: past the form's memory bound if it were read back
	type file struct{ name, filename, ctype string }
	cases := []struct {
		name   string
		model  string
		parts  []*genai.Part
		cfg    genai.GenerateContentConfig
		stream bool
		fields map[string]string
		files  []file
		data   [][]byte
	}{
		{
			name:   "one image",
			model:  "gpt-image-1",
			parts:  []*genai.Part{genai.NewPartFromText("add a moon"), genai.NewPartFromBytes(png, "image/png")},
			cfg:    genai.GenerateContentConfig{ResponseModalities: []string{"IMAGE"}},
			fields: map[string]string{"model": "gpt-image-1", "prompt": "add a moon"},
			files:  []file{{"image", "image.png", "image/png"}},
			data:   [][]byte{png},
		},
		{
			name:   "two images, landscape, two candidates",
			model:  "gpt-image-1",
			parts:  []*genai.Part{genai.NewPartFromText("merge"), genai.NewPartFromBytes(png, "image/png"), genai.NewPartFromBytes(jpeg, "image/jpeg"), genai.NewPartFromText("softly")},
			cfg:    genai.GenerateContentConfig{ResponseModalities: []string{"TEXT", "IMAGE"}, CandidateCount: 2, ImageConfig: &genai.ImageConfig{AspectRatio: "16:9"}},
			fields: map[string]string{"model": "gpt-image-1", "prompt": "merge\nsoftly", "size": "1536x1024", "n": "2"},
			files:  []file{{"image[]", "image-1.png", "image/png"}, {"image[]", "image-2.jpg", "image/jpeg"}},
			data:   [][]byte{png, jpeg},
		},
		{
			name:   "dall-e asked for base64, streamed",
			model:  "dall-e-2",
			parts:  []*genai.Part{genai.NewPartFromText("a hat"), genai.NewPartFromBytes(png, "image/png")},
			cfg:    genai.GenerateContentConfig{ResponseModalities: []string{"IMAGE"}},
			stream: true,
			fields: map[string]string{"model": "dall-e-2", "prompt": "a hat", "response_format": "b64_json"},
			files:  []file{{"image", "image.png", "image/png"}},
			data:   [][]byte{png},
		},
	}
	for _, tc := range cases {
		// Sequential: each case reads the upstreams' last requests.
		t.Run(tc.name, func(t *testing.T) {
			contents := []*genai.Content{genai.NewContentFromParts(tc.parts, genai.RoleUser)}
			var cands []*genai.Candidate
			var usage *genai.GenerateContentResponseUsageMetadata
			if tc.stream {
				for r, err := range c.Models.GenerateContentStream(context.Background(), tc.model, contents, &tc.cfg) {
					if err != nil {
						t.Fatal(err)
					}
					cands = append(cands, r.Candidates...)
				}
			} else {
				resp, err := c.Models.GenerateContent(context.Background(), tc.model, contents, &tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				cands, usage = resp.Candidates, resp.UsageMetadata
			}
			want := max(int(tc.cfg.CandidateCount), 1)
			if len(cands) != want {
				t.Fatalf("%d candidates, want %d", len(cands), want)
			}
			for i, cand := range cands {
				p := cand.Content.Parts[0]
				if p.InlineData == nil || p.InlineData.MIMEType != "image/png" || !bytes.Equal(p.InlineData.Data, gatewaytest.ImageBytes(tc.fields["prompt"], i, 0)) ||
					cand.FinishReason != genai.FinishReasonStop {
					t.Errorf("candidate %d: %+v", i, cand)
				}
			}
			if usage != nil && usage.CandidatesTokenCount != 4160 {
				t.Errorf("usage %+v", usage)
			}

			// The failed attempt and the answered one got the same form.
			for _, u := range []*gatewaytest.Upstream{broken, up} {
				got := u.Last(t)
				if got.Path != "/v1/images/edits" {
					t.Fatalf("upstream path %s", got.Path)
				}
				parts, err := gatewaytest.ParseForm(got)
				if err != nil {
					t.Fatalf("%v: %.200s", err, got.Body)
				}
				fields := map[string]string{}
				var files []file
				var data [][]byte
				for _, p := range parts {
					if p.FileName == "" {
						fields[p.Name] = string(p.Content)
						continue
					}
					files = append(files, file{p.Name, p.FileName, p.ContentType})
					data = append(data, p.Content)
				}
				if len(fields) != len(tc.fields) {
					t.Errorf("fields %v, want %v", fields, tc.fields)
				}
				for k, v := range tc.fields {
					if fields[k] != v {
						t.Errorf("field %s = %q, want %q", k, fields[k], v)
					}
				}
				if len(files) != len(tc.files) {
					t.Fatalf("files %v, want %v", files, tc.files)
				}
				for i := range tc.files {
					if files[i] != tc.files[i] || !bytes.Equal(data[i], tc.data[i]) {
						t.Errorf("file %d = %+v (%d bytes), want %+v (%d bytes)", i, files[i], len(data[i]), tc.files[i], len(tc.data[i]))
					}
				}
			}
			endpoint := "generateContent"
			if tc.stream {
				endpoint = "streamGenerateContent"
			}
			rec := n.usage(t, func(r gateway.UsageRecord) bool {
				return r.Endpoint == endpoint && r.Model == tc.model && r.ChannelName == "img"
			})
			if rec.Usage.OutputTokens != 4160 {
				t.Errorf("ledger %+v", rec)
			}
		})
	}
}
