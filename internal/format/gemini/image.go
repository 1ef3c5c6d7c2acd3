package gemini

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// GenerateImages is generateContent with image output, as the upstream
// side of a translated image call (an OpenAI images client and a Gemini
// image model such as gemini-2.5-flash-image). Gemini clients asking for
// images call Generate, which passes through.
var GenerateImages endpoint.Spec = imageSpec{}

var _ endpoint.ImageUpstream = imageSpec{}

type imageSpec struct{ wire }

func (imageSpec) Endpoint() string { return "generateContent" }
func (imageSpec) Op() upstream.Op  { return upstream.OpChat }

// Peek reads a generateContent body as Generate does.
func (imageSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	return Generate.Peek(r, body)
}

// AspectRatios are the ratios imageConfig.aspectRatio takes.
var AspectRatios = []string{"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}

// aspectRatio is the ratio nearest to width:height (by logarithm, so 2:1
// and 1:2 are as far from 1:1).
func aspectRatio(w, h int) string {
	want := math.Log(float64(w) / float64(h))
	best, dist := "1:1", math.Inf(1)
	for _, r := range AspectRatios {
		var a, b float64
		_, _ = fmt.Sscanf(r, "%f:%f", &a, &b)
		if d := math.Abs(math.Log(a/b) - want); d < dist {
			best, dist = r, d
		}
	}
	return best
}

// imageSize is imageConfig.imageSize for a size: 1K (the default, left
// unset) up to 1024 pixels on the long side, 2K to 2048, else 4K.
func imageSize(w, h int) string {
	switch long := max(w, h); {
	case long <= 1024:
		return ""
	case long <= 2048:
		return "2K"
	}
	return "4K"
}

// EncodeImageRequest writes a hub image request as generateContent with
// image output: the prompt and input images as one user turn, size as
// imageConfig, n as candidateCount.
func (imageSpec) EncodeImageRequest(req *llm.ImageRequest) ([]byte, error) {
	parts := []any{map[string]any{"text": req.Prompt}}
	for _, im := range req.Images {
		parts = append(parts, map[string]any{"inlineData": map[string]any{"mimeType": im.MIMEType, "data": base64.StdEncoding.EncodeToString(im.Data)}})
	}
	gen := map[string]any{"responseModalities": []string{"TEXT", "IMAGE"}}
	if req.N > 1 {
		gen["candidateCount"] = req.N
	}
	if req.Width > 0 && req.Height > 0 {
		ic := map[string]any{"aspectRatio": aspectRatio(req.Width, req.Height)}
		if s := imageSize(req.Width, req.Height); s != "" {
			ic["imageSize"] = s
		}
		gen["imageConfig"] = ic
	}
	return json.Marshal(map[string]any{
		"contents":         []any{map[string]any{"role": "user", "parts": parts}},
		"generationConfig": gen,
	})
}

// DecodeImageResponse reads the inline images (and text) of every
// candidate, with the usage.
func (imageSpec) DecodeImageResponse(body []byte) (*llm.ImageResponse, error) {
	out := &llm.ImageResponse{}
	var err error
	gjson.GetBytes(body, "candidates").ForEach(func(_, c gjson.Result) bool {
		c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			in := p.Get("inlineData")
			if !in.Exists() {
				in = p.Get("inline_data")
			}
			if in.IsObject() {
				data, derr := base64.StdEncoding.DecodeString(in.Get("data").Str)
				if derr != nil {
					err = fmt.Errorf("gemini image part: %w", derr)
					return false
				}
				mt := in.Get("mimeType").Str
				if mt == "" {
					mt = in.Get("mime_type").Str
				}
				out.Images = append(out.Images, llm.Blob{MIMEType: mt, Data: data})
			} else if t := p.Get("text").Str; t != "" && !p.Get("thought").Bool() {
				out.Text += t
			}
			return err == nil
		})
		return err == nil
	})
	if u, ok := ParseUsage(body); ok {
		out.Usage = u
	}
	return out, err
}

var _ endpoint.ImageClient = generateSpec{}

// ImageCall: a generateContent call asking for image output.
func (generateSpec) ImageCall(p endpoint.Peek) bool { return p.Opts&optImages != 0 }

// openAISize is the OpenAI image size nearest an aspect ratio: square,
// landscape or portrait (gpt-image's three).
func openAISize(ratio string) (int, int) {
	var a, b float64
	if _, err := fmt.Sscanf(ratio, "%f:%f", &a, &b); err != nil || a <= 0 || b <= 0 {
		return 0, 0
	}
	switch {
	case a > b:
		return 1536, 1024
	case a < b:
		return 1024, 1536
	}
	return 1024, 1024
}

// DecodeImage reads an image generation or edit from generateContent: the
// prompt and images of its one user turn, candidateCount as n and
// imageConfig.aspectRatio as the size. A conversation of several turns
// (an edit replaying earlier images and their signatures) has no
// equivalent in OpenAI's image API and is refused.
func (generateSpec) DecodeImage(p endpoint.Peek, body payload.Body) (*llm.ImageRequest, error) {
	root := gjson.ParseBytes(body.JSON)
	contents := root.Get("contents").Array()
	if len(contents) != 1 {
		return nil, gateway.Errorf(gateway.KindInvalidRequest, "model %q is served through an image API that takes one turn: send the prompt and images as one user content", p.Model).WithParam("contents")
	}
	req := &llm.ImageRequest{Model: p.Model, N: p.N}
	var err error
	contents[0].Get("parts").ForEach(func(_, part gjson.Result) bool {
		if t := part.Get("text"); t.Exists() {
			if req.Prompt != "" {
				req.Prompt += "\n"
			}
			req.Prompt += t.Str
			return true
		}
		in := part.Get("inlineData")
		if !in.Exists() {
			in = part.Get("inline_data")
		}
		if !in.IsObject() {
			err = gateway.Errorf(gateway.KindInvalidRequest, "only text and inlineData parts can be sent to model %q", p.Model).WithParam("contents")
			return false
		}
		data, derr := base64.StdEncoding.DecodeString(in.Get("data").Str)
		if derr != nil {
			err = gateway.Errorf(gateway.KindInvalidRequest, "inlineData.data is not base64").WithParam("contents")
			return false
		}
		mt := in.Get("mimeType").Str
		if mt == "" {
			mt = in.Get("mime_type").Str
		}
		req.Images = append(req.Images, llm.Blob{MIMEType: mt, Data: data})
		return true
	})
	if err != nil {
		return nil, err
	}
	cfg := root.Get("generationConfig")
	if !cfg.Exists() {
		cfg = root.Get("generation_config")
	}
	req.Width, req.Height = openAISize(cfg.Get("imageConfig.aspectRatio").Str)
	req.Edit = len(req.Images) > 0
	return req, nil
}

// imageAnswer is a generateContent answer holding the images, one
// candidate each.
func imageAnswer(resp *llm.ImageResponse, req *llm.ImageRequest) ([]byte, error) {
	cands := make([]any, len(resp.Images))
	for i, im := range resp.Images {
		cands[i] = map[string]any{"index": i, "finishReason": "STOP", "content": map[string]any{"role": "model", "parts": []any{
			map[string]any{"inlineData": map[string]any{"mimeType": im.MIMEType, "data": base64.StdEncoding.EncodeToString(im.Data)}},
		}}}
	}
	u := resp.Usage
	out := map[string]any{"candidates": cands, "modelVersion": req.Model,
		"usageMetadata": map[string]any{"promptTokenCount": u.InputTokens, "candidatesTokenCount": u.OutputTokens, "totalTokenCount": u.InputTokens + u.OutputTokens}}
	return json.Marshal(out)
}

func (generateSpec) EncodeImage(resp *llm.ImageResponse, req *llm.ImageRequest) ([]byte, error) {
	return imageAnswer(resp, req)
}

func (generateSpec) ImageStreamType(p endpoint.Peek) string {
	if p.Opts&optSSE != 0 {
		return "text/event-stream"
	}
	return "application/json"
}

// EncodeImageEvents writes the answer as one stream chunk, in the framing
// the client asked for (alt=sse, or a JSON array).
func (generateSpec) EncodeImageEvents(w *sse.Writer, p endpoint.Peek, resp *llm.ImageResponse, req *llm.ImageRequest) error {
	b, err := imageAnswer(resp, req)
	if err != nil {
		return err
	}
	if p.Opts&optSSE != 0 {
		return w.WriteData(b)
	}
	return w.WriteRaw(append(append([]byte{'['}, b...), ']'))
}
