package openai

import (
	"bytes"
	"mime/multipart"
	"slices"
	"strings"
	"testing"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
)

func jsonBody(s string) payload.Body { return payload.Body{JSON: []byte(s)} }

func formBody(t testing.TB, fields map[string]string, files ...string) payload.Body {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, name := range files {
		w, _ := mw.CreateFormFile(name, name+".png")
		_, _ = w.Write([]byte("PNG"))
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	f, err := payload.ReadForm(&b, mw.Boundary(), payload.Limits{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return payload.Body{Form: f}
}

func TestImagePeek(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		spec      endpoint.Spec
		body      payload.Body
		model     string
		n         int
		stream    bool
		wantParam string // "" : valid
	}{
		{"defaults", ImageGenerations, jsonBody(`{"prompt":"x"}`), "dall-e-2", 0, false, ""},
		{"full", ImageGenerations, jsonBody(`{"model":"gpt-image-1","prompt":"x","n":3,"stream":true,"partial_images":2,"size":"1536x1024","quality":"high","background":"transparent"}`), "gpt-image-1", 3, true, ""},
		{"no prompt", ImageGenerations, jsonBody(`{"model":"dall-e-3"}`), "", 0, false, "prompt"},
		{"n too big", ImageGenerations, jsonBody(`{"prompt":"x","n":11}`), "", 0, false, "n"},
		{"n fractional", ImageGenerations, jsonBody(`{"prompt":"x","n":1.5}`), "", 0, false, "n"},
		{"bad format", ImageGenerations, jsonBody(`{"prompt":"x","response_format":"png"}`), "", 0, false, "response_format"},
		{"stream not bool", ImageGenerations, jsonBody(`{"prompt":"x","stream":"yes"}`), "", 0, false, "stream"},
		{"model not string", ImageGenerations, jsonBody(`{"prompt":"x","model":7}`), "", 0, false, "model"},
		{"edit form", ImageEdits, formBody(t, map[string]string{"prompt": "x", "model": "gpt-image-1", "n": "2", "stream": "true"}, "image[]", "image[]"), "gpt-image-1", 2, true, ""},
		{"edit without image", ImageEdits, formBody(t, map[string]string{"prompt": "x"}), "", 0, false, "image"},
		{"edit json", ImageEdits, jsonBody(`{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"https://e/x.png"}]}`), "gpt-image-1", 0, false, ""},
		{"edit json without images", ImageEdits, jsonBody(`{"model":"gpt-image-1","prompt":"x"}`), "", 0, false, "images"},
		{"form n not a number", ImageEdits, formBody(t, map[string]string{"prompt": "x", "n": "two"}, "image"), "", 0, false, "n"},
		{"variation", ImageVariations, formBody(t, map[string]string{"n": "2"}, "image"), "dall-e-2", 2, false, ""},
		{"variation as json", ImageVariations, jsonBody(`{"n":2}`), "", 0, false, "image"},
		{"variation stream", ImageVariations, formBody(t, map[string]string{"stream": "true"}, "image"), "", 0, false, "stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.spec.Peek(nil, tc.body)
			if tc.wantParam != "" {
				ge, ok := err.(*gateway.Error)
				if !ok || ge.Kind != gateway.KindInvalidRequest || ge.Param != tc.wantParam {
					t.Fatalf("err = %v, want a 400 on %q", err, tc.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Model != tc.model || p.N != tc.n || p.Stream != tc.stream {
				t.Errorf("peek %+v", p)
			}
		})
	}
}

func TestImageMeterAndWorst(t *testing.T) {
	t.Parallel()
	spec := ImageGenerations.(imageSpec)
	body := jsonBody(`{"model":"dall-e-3","prompt":"x","n":2,"size":"1024x1792","quality":"hd"}`)
	p := endpoint.Peek{Model: "dall-e-3", N: 2}
	if got := spec.Units(p, body, []byte(`{"data":[{},{}]}`)); !slices.Equal(got, []gateway.Metered{{Unit: "image:1024x1792:hd", Count: 2}}) {
		t.Errorf("units %v", got)
	}
	if got := spec.Units(p, body, []byte(`{"data":[{}],"usage":{"input_tokens":1}}`)); got != nil {
		t.Errorf("a token-reporting answer is metered in units: %v", got)
	}
	if got := spec.StreamUnits(p, body, true); got != nil {
		t.Errorf("stream with usage: %v", got)
	}
	if got := spec.Units(p, jsonBody(`{"prompt":"x","size":"auto","quality":"hd"}`), nil); got[0].Unit != "image" {
		t.Errorf("auto size: %v", got)
	}
	w := spec.Worst(endpoint.Peek{N: 3}, jsonBody(`{"model":"gpt-image-1","prompt":"x","n":3,"partial_images":2,"size":"2048x2048","quality":"xhigh"}`))
	if want := int64(3*(2*2048*2048/pixelsPerToken) + 3*200); w.OutputTokens != want || w.Units[0] != (gateway.Metered{Unit: "image:2048x2048:xhigh", Count: 3}) {
		t.Errorf("worst %+v, want output %d", w, want)
	}
	edit := formBody(t, map[string]string{"prompt": "x"}, "image[]", "image[]", "mask")
	if w := ImageEdits.(imageSpec).Worst(endpoint.Peek{}, edit); w.InputTokens < 3*imageInputTokens || w.OutputTokens != largestImageOut {
		t.Errorf("edit worst %+v", w)
	}
}

func FuzzImagePeek(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"x"}`, `{"model":"gpt-image-1","prompt":"x","n":3,"stream":true,"partial_images":2,"size":"1536x1024"}`,
		`{"prompt":"x","n":1e300}`, `{"prompt":"x","size":"99999999999x1"}`, `{"model":"gpt-image-1","prompt":"x","images":[1]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := jsonBody(s)
		for _, spec := range []endpoint.Spec{ImageGenerations, ImageEdits} {
			p, err := spec.Peek(nil, body)
			if err != nil {
				continue
			}
			if p.Model == "" || p.N < 0 || p.N > MaxImages {
				t.Fatalf("peek %+v of %s", p, s)
			}
			is := spec.(imageSpec)
			w := is.Worst(p, body)
			if w.OutputTokens <= 0 || w.InputTokens < 0 {
				t.Fatalf("worst %+v of %s", w, s)
			}
			_ = is.Units(p, body, nil)
		}
	})
}

func TestImageRouting(t *testing.T) {
	t.Parallel()
	gen := &llm.ImageRequest{Prompt: "x"}
	edit := &llm.ImageRequest{Prompt: "x", Images: []llm.Blob{{MIMEType: "image/png", Data: []byte("P")}}}
	cases := []struct {
		spec      endpoint.Spec
		gen, edit bool
	}{
		{ImageGenerations, true, false},
		{ImageEdits, false, true},
		{ImageVariations, false, false},
	}
	for _, tc := range cases {
		r := tc.spec.(endpoint.ImageRouter)
		if r.CarriesImage(gen) != tc.gen || r.CarriesImage(edit) != tc.edit {
			t.Errorf("%s carries generation %v, edit %v", tc.spec.Endpoint(), r.CarriesImage(gen), r.CarriesImage(edit))
		}
	}
}

func TestFileExt(t *testing.T) {
	t.Parallel()
	for mt, want := range map[string]string{
		"image/png": "png", "image/jpeg": "jpg", "IMAGE/WEBP": "webp", "image/svg+xml": "svg",
		"image/png; charset=x": "png", "": "bin", "image/": "bin", "image/a b": "bin", "png": "bin",
	} {
		if got := fileExt(mt); got != want {
			t.Errorf("fileExt(%q) = %q, want %q", mt, got, want)
		}
	}
}

// An edit written by EncodeImageBody reads back, through the edit
// endpoint's own Peek and DecodeImage, as the request it was written from.
func TestImageEditBodyRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		req   llm.ImageRequest
		files []string // name/filename/content type of each file part
	}{
		{"one image", llm.ImageRequest{Model: "gpt-image-1", Prompt: "add a moon", N: 1, Images: []llm.Blob{{MIMEType: "image/png", Data: []byte("PNG-A")}}},
			[]string{"image/image.png/image/png"}},
		{"several, sized", llm.ImageRequest{Model: "gpt-image-1", Prompt: "merge", N: 3, Width: 1536, Height: 1024, Quality: "high", OutputFormat: "image/webp",
			Images: []llm.Blob{{MIMEType: "image/jpeg", Data: []byte("JPEG")}, {MIMEType: "image/webp", Data: bytes.Repeat([]byte("W"), 3<<20)}}},
			[]string{"image[]/image-1.jpg/image/jpeg", "image[]/image-2.webp/image/webp"}},
		{"type sniffed", llm.ImageRequest{Model: "dall-e-2", Prompt: "p", N: 1, Images: []llm.Blob{{Data: []byte("\x89PNG\r\n\x1a\n0000")}}},
			[]string{"image/image.png/image/png"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := ImageEdits.(endpoint.ImageBodyEncoder).EncodeImageBody(&tc.req)
			if err != nil {
				t.Fatal(err)
			}
			boundary, err := payload.ContentTypeBoundary(b.ContentType)
			if err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer
			if n, _ := raw.ReadFrom(b.Open()); n != b.Length {
				t.Fatalf("read %d bytes, Length %d", n, b.Length)
			}
			form, err := payload.ReadForm(&raw, boundary, payload.Limits{Dir: t.TempDir(), MaxBytes: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer form.Close()
			var files []string
			for _, p := range form.Parts {
				if p.IsFile() {
					files = append(files, p.Name+"/"+p.FileName+"/"+p.ContentType)
				}
			}
			if !slices.Equal(files, tc.files) {
				t.Errorf("files %v, want %v", files, tc.files)
			}
			if rf, _ := form.Value("response_format"); (rf == "b64_json") != strings.HasPrefix(tc.req.Model, "dall-e") {
				t.Errorf("response_format %q for %s", rf, tc.req.Model)
			}
			body := payload.Body{Form: form}
			p, err := ImageEdits.Peek(nil, body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ImageEdits.(endpoint.ImageClient).DecodeImage(p, body)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.req
			want.Edit = true
			if want.Images[0].MIMEType == "" {
				want.Images = []llm.Blob{{MIMEType: "image/png", Data: want.Images[0].Data}}
			}
			if got.Model != want.Model || got.Prompt != want.Prompt || max(got.N, 1) != want.N || got.Width != want.Width || got.Height != want.Height ||
				got.Quality != want.Quality || got.OutputFormat != want.OutputFormat || !got.Edit || len(got.Images) != len(want.Images) {
				t.Fatalf("decoded %+v\nwant %+v", got, want)
			}
			for i := range want.Images {
				if got.Images[i].MIMEType != want.Images[i].MIMEType || !bytes.Equal(got.Images[i].Data, want.Images[i].Data) {
					t.Errorf("image %d: %s %d bytes", i, got.Images[i].MIMEType, len(got.Images[i].Data))
				}
			}
		})
	}
	if _, err := ImageEdits.(endpoint.ImageBodyEncoder).EncodeImageBody(&llm.ImageRequest{Model: "gpt-image-1", Prompt: "x"}); err == nil {
		t.Error("an edit without images was encoded")
	}
}
