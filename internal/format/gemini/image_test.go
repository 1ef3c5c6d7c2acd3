package gemini

import (
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
)

func TestImageConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		w, h        int
		ratio, size string
	}{
		{1024, 1024, "1:1", ""}, {1536, 1024, "3:2", "2K"}, {1024, 1536, "2:3", "2K"}, {1792, 1024, "16:9", "2K"},
		{1024, 1792, "9:16", "2K"}, {3840, 2160, "16:9", "4K"}, {2560, 1080, "21:9", "4K"}, {512, 512, "1:1", ""}, {1000, 800, "5:4", ""},
	}
	for _, tc := range cases {
		if r, s := aspectRatio(tc.w, tc.h), imageSize(tc.w, tc.h); r != tc.ratio || s != tc.size {
			t.Errorf("%dx%d → %s %q, want %s %q", tc.w, tc.h, r, s, tc.ratio, tc.size)
		}
	}
	b, err := GenerateImages.(imageSpec).EncodeImageRequest(&llm.ImageRequest{Prompt: "p", N: 1, Images: []llm.Blob{{MIMEType: "image/png", Data: []byte("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(b, "generationConfig.imageConfig").Exists() || gjson.GetBytes(b, "generationConfig.candidateCount").Exists() ||
		gjson.GetBytes(b, "contents.0.parts.1.inlineData.data").Str != "eA==" {
		t.Errorf("request %s", b)
	}
}

func TestDecodeImageResponse(t *testing.T) {
	t.Parallel()
	body := []byte(`{"candidates":[{"content":{"parts":[{"text":"thinking","thought":true},{"text":"Here."},{"inline_data":{"mime_type":"image/jpeg","data":"SlBH"}},{"inlineData":{"mimeType":"image/png","data":"UE5H"},"thoughtSignature":"c2ln"}]}}],
"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1300,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1290}]}}`)
	r, err := GenerateImages.(imageSpec).DecodeImageResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Images) != 2 || string(r.Images[0].Data) != "JPG" || r.Images[0].MIMEType != "image/jpeg" || string(r.Images[1].Data) != "PNG" ||
		r.Text != "Here." || r.Usage.ImageOutputTokens != 1290 || r.Usage.InputTokens != 5 {
		t.Errorf("decoded %+v", r)
	}
	if _, err := GenerateImages.(imageSpec).DecodeImageResponse([]byte(`{"candidates":[{"content":{"parts":[{"inlineData":{"data":"!!"}}]}}]}`)); err == nil {
		t.Error("bad base64 accepted")
	}
}

func FuzzDecodeImageResponse(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"UE5H"}}]}}]}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"x"},{"inline_data":{"data":""}}]}}],"usageMetadata":{"promptTokenCount":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := GenerateImages.(imageSpec).DecodeImageResponse(b)
		if err == nil && r == nil {
			t.Fatal("nil answer without error")
		}
	})
}

func TestDecodeImageRequest(t *testing.T) {
	t.Parallel()
	spec := Generate.(generateSpec)
	body := payload.Body{JSON: []byte(`{"contents":[{"role":"user","parts":[{"text":"make it"},{"text":"night"},{"inline_data":{"mime_type":"image/jpeg","data":"SlBH"}}]}],
"generationConfig":{"responseModalities":["IMAGE"],"imageConfig":{"aspectRatio":"9:16"}}}`)}
	req, err := spec.DecodeImage(endpoint.Peek{Model: "gpt-image-1", N: 2}, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Prompt != "make it\nnight" || len(req.Images) != 1 || string(req.Images[0].Data) != "JPG" || req.Width != 1024 || req.Height != 1536 || req.N != 2 || !req.Edit {
		t.Errorf("decoded %+v", req)
	}
	for _, bad := range []string{
		`{"contents":[{"parts":[{"text":"a"}]},{"parts":[{"text":"b"}]}]}`,
		`{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`,
		`{"contents":[{"parts":[{"inlineData":{"data":"!"}}]}]}`,
	} {
		if _, err := spec.DecodeImage(endpoint.Peek{Model: "m"}, payload.Body{JSON: []byte(bad)}); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	for ratio, want := range map[string][2]int{"1:1": {1024, 1024}, "21:9": {1536, 1024}, "3:4": {1024, 1536}, "": {0, 0}, "x": {0, 0}} {
		if w, h := openAISize(ratio); w != want[0] || h != want[1] {
			t.Errorf("%q → %dx%d", ratio, w, h)
		}
	}
}

func FuzzDecodeImageRequest(f *testing.F) {
	f.Add([]byte(`{"contents":[{"parts":[{"text":"a"},{"inlineData":{"mimeType":"image/png","data":"UE5H"}}]}],"generationConfig":{"imageConfig":{"aspectRatio":"0:0"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !gjson.ValidBytes(b) {
			return
		}
		req, err := Generate.(generateSpec).DecodeImage(endpoint.Peek{Model: "m"}, payload.Body{JSON: b})
		if err == nil && (req == nil || req.Width < 0) {
			t.Fatalf("decoded %+v", req)
		}
	})
}
