package openai

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// The image endpoints: POST /v1/images/generations (JSON), and
// /v1/images/edits and /v1/images/variations (multipart, with image,
// image[] and mask files; edits also as JSON with image URLs).
var (
	ImageGenerations endpoint.Spec = imageSpec{kind: imageGenerate}
	ImageEdits       endpoint.Spec = imageSpec{kind: imageEdit}
	ImageVariations  endpoint.Spec = imageSpec{kind: imageVary}
)

var (
	_ endpoint.Streamer    = imageSpec{}
	_ endpoint.Meter       = imageSpec{}
	_ endpoint.StreamMeter = imageSpec{}
	_ endpoint.Holder      = imageSpec{}
	_ endpoint.BodyLimiter = imageSpec{}
)

type imageKind int

const (
	imageGenerate imageKind = iota
	imageEdit
	imageVary
)

// MaxImages is OpenAI's limit of images per call.
const MaxImages = 10

// Upload limits of the image routes (server.upload_limits_mb replaces
// them): gpt-image takes up to 16 images of up to 50 MB in an edit, but a
// gateway need not take a gigabyte; dall-e-2 variations take one 4 MB PNG.
const (
	imageEditMaxBytes = 64 << 20
	imageVaryMaxBytes = 8 << 20
)

type imageSpec struct {
	wire
	kind imageKind
}

func (s imageSpec) Endpoint() string {
	switch s.kind {
	case imageEdit:
		return "images.edits"
	case imageVary:
		return "images.variations"
	}
	return "images.generations"
}

func (s imageSpec) Op() upstream.Op {
	switch s.kind {
	case imageEdit:
		return upstream.OpImageEdits
	case imageVary:
		return upstream.OpImageVariations
	}
	return upstream.OpImageGenerations
}

func (s imageSpec) MaxBodyBytes() int64 {
	switch s.kind {
	case imageEdit:
		return imageEditMaxBytes
	case imageVary:
		return imageVaryMaxBytes
	}
	return 0
}

var imageFields = []string{"model", "prompt", "n", "size", "quality", "stream", "partial_images", "response_format", "images"}

// Peek reads and checks what routing, the hold and the meter need; the
// rest (background, output_format, moderation, style, user, and fields
// newer than the gateway) passes through untouched.
func (s imageSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if s.kind == imageVary && body.Form == nil {
		return p, invalid("image", "images/variations takes a multipart/form-data upload")
	}
	if body.Form == nil && body.JSON == nil {
		return p, invalid("", "the request body must be JSON or multipart/form-data")
	}
	if s.kind == imageGenerate && body.Form != nil {
		return p, invalid("", "images/generations takes a JSON body")
	}
	f := readFields(body, imageFields...)
	model, err := f.model("dall-e-2")
	if err != nil {
		return p, err
	}
	if s.kind != imageVary {
		if _, err := f.required("prompt"); err != nil {
			return p, err
		}
	}
	n, _, err := f.integer("n", 1, MaxImages)
	if err != nil {
		return p, err
	}
	if _, err := f.oneOf("response_format", "url", "b64_json"); err != nil {
		return p, err
	}
	if _, _, err := f.str("size"); err != nil {
		return p, err
	}
	if _, _, err := f.str("quality"); err != nil {
		return p, err
	}
	stream, err := f.boolean("stream")
	if err != nil {
		return p, err
	}
	if _, _, err := f.integer("partial_images", 0, 3); err != nil {
		return p, err
	}
	if stream && s.kind == imageVary {
		return p, invalid("stream", "images/variations does not stream")
	}
	switch {
	case s.kind == imageEdit && body.Form != nil:
		if len(body.Form.Files("image"))+len(body.Form.Files("image[]")) == 0 {
			return p, invalid("image", "'image' is a required property: upload it as a file named image (or image[] for several)").WithCode("missing_required_parameter")
		}
	case s.kind == imageEdit:
		if imgs := f.json["images"]; !imgs.IsArray() || len(imgs.Array()) == 0 {
			return p, invalid("images", "'images' is a required property of a JSON edit").WithCode("missing_required_parameter")
		}
	case s.kind == imageVary:
		if len(body.Form.Files("image")) == 0 {
			return p, invalid("image", "'image' is a required property: upload it as a file").WithCode("missing_required_parameter")
		}
	}
	p.Model, p.N, p.Stream = model, int(n), stream
	return p, nil
}

// PassRequest forwards the body with the upstream's model: JSON spliced,
// a form re-emitted from memory and its spool, file names and content
// types kept.
func (imageSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	return passMedia(p, body, upstreamModel)
}

// ParseUsage reads gpt-image's token usage; dall-e reports none.
func (imageSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

// CountAnswer adds nothing: images are not text.
func (imageSpec) CountAnswer([]byte, endpoint.TextCounter) {}

// imageUnit names what one image of a request costs: "image", with the
// size and quality as variants when the request names them ("auto" names
// nothing), as the price table's units spell them.
func imageUnit(body payload.Body) string {
	f := readFields(body, "size", "quality")
	unit := gateway.UnitImage
	size, _, _ := f.str("size")
	if size == "" || size == "auto" {
		return unit
	}
	unit += ":" + strings.ToLower(size)
	if q, _, _ := f.str("quality"); q != "" && q != "auto" {
		unit += ":" + strings.ToLower(q)
	}
	return unit
}

// Units prices an answer without token usage (dall-e) per image by size
// and quality: as many as it holds. A gpt-image answer reports tokens and
// is priced by them alone.
func (imageSpec) Units(p endpoint.Peek, body payload.Body, answer []byte) []gateway.Metered {
	n := int64(p.Choices())
	if answer != nil {
		if gjson.GetBytes(answer, "usage").IsObject() {
			return nil
		}
		if d := gjson.GetBytes(answer, "data"); d.IsArray() {
			n = int64(len(d.Array()))
		}
	}
	if n == 0 {
		return nil
	}
	return []gateway.Metered{{Unit: imageUnit(body), Count: n}}
}

// StreamUnits prices a stream that reported no usage per image asked for.
func (s imageSpec) StreamUnits(p endpoint.Peek, body payload.Body, usageReported bool) []gateway.Metered {
	if usageReported {
		return nil
	}
	return s.Units(p, body, nil)
}

// Token bounds of a gpt-image call. Output: OpenAI bills a high-quality
// 1024x1024 image 4160 tokens and 1536x1024 6240, about one token per 252
// pixels; a size the gateway does not know is held at the largest
// standard one, xhigh and max quality at twice, and each partial image
// adds 100. Input: every uploaded image at most imageInputTokens.
const (
	pixelsPerToken   = 240
	largestImageOut  = 6240
	imageInputTokens = 8192
)

// Worst bounds a call: n images at the dearest price of the size asked
// for (every size when none is), or their tokens.
func (s imageSpec) Worst(p endpoint.Peek, body payload.Body) endpoint.Worst {
	n := int64(p.Choices())
	f := readFields(body, "size", "quality", "partial_images", "images")
	perImage := int64(largestImageOut)
	if size, _, _ := f.str("size"); size != "" {
		if w, h, ok := parseSize(size); ok {
			perImage = max(perImage, w*h/pixelsPerToken)
		}
	}
	if q, _, _ := f.str("quality"); q == "xhigh" || q == "max" {
		perImage *= 2
	}
	partial, _, _ := f.integer("partial_images", 0, 3)
	in := formTextBytes(body)
	if body.Form != nil {
		in += imageInputTokens * int64(len(body.Form.Files("image"))+len(body.Form.Files("image[]"))+len(body.Form.Files("mask")))
	} else if imgs := f.json["images"]; imgs.IsArray() {
		in += imageInputTokens * int64(len(imgs.Array()))
	}
	return endpoint.Worst{
		InputTokens:  in,
		OutputTokens: n * (perImage + 100*partial),
		Units:        []gateway.Metered{{Unit: imageUnit(body), Count: n}},
	}
}

// parseSize reads "WIDTHxHEIGHT".
func parseSize(s string) (int64, int64, bool) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, false
	}
	w, err1 := strconv.ParseInt(ws, 10, 64)
	h, err2 := strconv.ParseInt(hs, 10, 64)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 1<<16 || h > 1<<16 {
		return 0, 0, false
	}
	return w, h, true
}

// Image stream events (gpt-image with stream: true): partial images, then
// one completed event per image, which carries the usage.
const (
	genPartial  = "image_generation.partial_image"
	genDone     = "image_generation.completed"
	editPartial = "image_edit.partial_image"
	editDone    = "image_edit.completed"
)

func (imageSpec) EventError(ev sse.Event) *gateway.Error { return eventError(ev) }

func (imageSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	if !bytes.Contains(ev.Data, usageKey) {
		return llm.Usage{}, false, false
	}
	switch eventType(ev) {
	case genDone, editDone:
		u, ok := ParseUsage(ev.Data)
		return u, true, ok
	}
	return llm.Usage{}, false, false
}

// EventText reports image events as content (time to first image) and
// counts nothing.
func (imageSpec) EventText(ev sse.Event, _ endpoint.TextCounter) bool {
	switch eventType(ev) {
	case genPartial, genDone, editPartial, editDone:
		return true
	}
	return false
}

// Terminal is never an event: a stream of n images has n completed events
// and ends at EOF.
func (imageSpec) Terminal(sse.Event) bool { return false }
func (imageSpec) NeedsTerminal() bool     { return false }

func (imageSpec) NewStreamWriter(w http.ResponseWriter, _ endpoint.Peek) endpoint.StreamWriter {
	return &streamWriter{sw: sse.NewWriter(w)}
}

var (
	_ endpoint.ImageClient   = imageSpec{}
	_ endpoint.ImageUpstream = imageSpec{}
)

// DecodeImage reads an image call into the hub: a generation's JSON, an
// edit's uploaded images (or data: URLs of a JSON edit). A mask has no
// equivalent in the formats the hub translates to, so it is refused
// rather than dropped.
func (s imageSpec) DecodeImage(p endpoint.Peek, body payload.Body) (*llm.ImageRequest, error) {
	if s.kind == imageVary {
		return nil, invalid("model", "image variations are served only by OpenAI-format channels")
	}
	f := readFields(body, imageFields...)
	prompt, _, _ := f.str("prompt")
	rf, _, _ := f.str("response_format")
	size, _, _ := f.str("size")
	quality, _, _ := f.str("quality")
	req := &llm.ImageRequest{Model: p.Model, Prompt: prompt, N: p.N, Quality: quality, URL: rf == "url", Edit: s.kind == imageEdit}
	if of, _, _ := readFields(body, "output_format").str("output_format"); of != "" {
		req.OutputFormat = "image/" + strings.ToLower(of)
	}
	if w, h, ok := parseSize(size); ok {
		req.Width, req.Height = int(w), int(h)
	}
	if s.kind != imageEdit {
		return req, nil
	}
	if body.Form != nil {
		if len(body.Form.Files("mask")) > 0 {
			return nil, invalid("mask", "a mask is not supported for model %q: its provider edits by prompt only", p.Model)
		}
		for _, name := range []string{"image", "image[]"} {
			for _, part := range body.Form.Files(name) {
				data, err := io.ReadAll(part.Open())
				if err != nil {
					return nil, &gateway.Error{Kind: gateway.KindInternal, Message: "cannot read the upload", Err: err}
				}
				mt := part.ContentType
				if mt == "" || mt == "application/octet-stream" {
					mt = http.DetectContentType(data)
				}
				req.Images = append(req.Images, llm.Blob{MIMEType: mt, Data: data})
			}
		}
		return req, nil
	}
	var err error
	f.json["images"].ForEach(func(_, im gjson.Result) bool {
		u := im.Get("image_url").Str
		mt, data, ok := decodeDataURL(u)
		if !ok {
			err = invalid("images", "only data: URLs are supported for model %q (upload the image instead)", p.Model)
			return false
		}
		req.Images = append(req.Images, llm.Blob{MIMEType: mt, Data: data})
		return true
	})
	return req, err
}

// decodeDataURL reads "data:<type>;base64,<data>".
func decodeDataURL(u string) (string, []byte, bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", nil, false
	}
	meta, data, ok := strings.Cut(rest, ",")
	mt, isB64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isB64 {
		return "", nil, false
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", nil, false
	}
	return mt, b, true
}

// imageData is one entry of an images answer: base64, or a data: URL when
// the client asked for URLs and the upstream returned bytes.
func imageData(b []byte, im llm.Blob, asURL bool) []byte {
	if asURL && im.URL != "" {
		b = append(b, `{"url":`...)
		return append(strconv.AppendQuote(b, im.URL), '}')
	}
	enc := base64.StdEncoding.EncodeToString(im.Data)
	if asURL {
		b = append(b, `{"url":`...)
		return append(strconv.AppendQuote(b, "data:"+im.MIMEType+";base64,"+enc), '}')
	}
	b = append(b, `{"b64_json":"`...)
	b = append(b, enc...)
	return append(b, `"}`...)
}

// imageUsageJSON is gpt-image's usage object.
func imageUsageJSON(u llm.Usage) map[string]any {
	return map[string]any{
		"input_tokens": u.InputTokens, "output_tokens": u.OutputTokens, "total_tokens": u.InputTokens + u.OutputTokens,
		"input_tokens_details": map[string]any{"text_tokens": max(u.InputTokens-u.ImageInputTokens, 0), "image_tokens": u.ImageInputTokens},
	}
}

// ImageCall: every call of an images endpoint asks for images.
func (imageSpec) ImageCall(endpoint.Peek) bool { return true }

// ImageStreamType is SSE.
func (imageSpec) ImageStreamType(endpoint.Peek) string { return "text/event-stream" }

// EncodeImage writes the hub's answer as an images response.
func (imageSpec) EncodeImage(resp *llm.ImageResponse, req *llm.ImageRequest) ([]byte, error) {
	b := []byte(`{"created":`)
	b = strconv.AppendInt(b, resp.Created, 10)
	b = append(b, `,"data":[`...)
	for i, im := range resp.Images {
		if i > 0 {
			b = append(b, ',')
		}
		b = imageData(b, im, req.URL)
	}
	b = append(b, ']')
	if len(resp.Images) > 0 {
		b = append(b, `,"output_format":`...)
		b = strconv.AppendQuote(b, strings.TrimPrefix(resp.Images[0].MIMEType, "image/"))
	}
	if !resp.Usage.IsZero() {
		u, err := json.Marshal(imageUsageJSON(resp.Usage))
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"usage":`...), u...)
	}
	return append(b, '}'), nil
}

// EncodeImageEvents writes the answer as a stream's completed events, one
// per image, the last with the usage.
func (imageSpec) EncodeImageEvents(w *sse.Writer, _ endpoint.Peek, resp *llm.ImageResponse, req *llm.ImageRequest) error {
	name := genDone
	if req.Edit {
		name = editDone
	}
	for i, im := range resp.Images {
		ev := map[string]any{"type": name, "b64_json": base64.StdEncoding.EncodeToString(im.Data), "created_at": resp.Created,
			"output_format": strings.TrimPrefix(im.MIMEType, "image/"), "size": "auto", "quality": "auto", "background": "auto"}
		if i == len(resp.Images)-1 {
			ev["usage"] = imageUsageJSON(resp.Usage)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := w.WriteEvent(name, data); err != nil {
			return err
		}
	}
	return nil
}

// EncodeImageRequest writes a hub request as an images/generations body
// (edits with images are multipart: EncodeImageBody).
func (imageSpec) EncodeImageRequest(req *llm.ImageRequest) ([]byte, error) {
	if len(req.Images) > 0 {
		return nil, invalid("", "editing images on an OpenAI-format channel needs the images/edits endpoint")
	}
	out := map[string]any{}
	for _, f := range imageRequestFields(req) {
		out[f.Name] = f.Value
	}
	if req.N > 1 {
		out["n"] = req.N // a number in JSON
	}
	return json.Marshal(out)
}

var _ endpoint.ImageRouter = imageSpec{}

// CarriesImage: generations take calls without input images, edits calls
// with them, and variations none (the hub has no variation call).
func (s imageSpec) CarriesImage(req *llm.ImageRequest) bool {
	switch s.kind {
	case imageGenerate:
		return len(req.Images) == 0
	case imageEdit:
		return len(req.Images) > 0
	}
	return false
}

var _ endpoint.ImageBodyEncoder = imageSpec{}

// EncodeImageBody writes a generation as JSON and an edit as the
// multipart form of images/edits: the text fields, then the images as
// files, "image" for one and "image[]" for several, each named and typed
// by its MIME type. The images are not copied: the form reads them from
// the hub request whenever an attempt sends it.
func (s imageSpec) EncodeImageBody(req *llm.ImageRequest) (upstream.Body, error) {
	if s.kind != imageEdit {
		b, err := s.EncodeImageRequest(req)
		return upstream.JSON(b), err
	}
	if len(req.Images) == 0 {
		return upstream.Body{}, invalid("image", "an image edit needs at least one input image")
	}
	fields := imageRequestFields(req)
	if req.N > 1 {
		fields = append(fields, payload.FormField{Name: "n", Value: strconv.Itoa(req.N)})
	}
	name := "image"
	if len(req.Images) > 1 {
		name = "image[]"
	}
	files := make([]payload.FormFile, len(req.Images))
	for i, im := range req.Images {
		mt := im.MIMEType
		if mt == "" {
			mt = http.DetectContentType(im.Data)
		}
		file := "image." + fileExt(mt)
		if len(req.Images) > 1 {
			file = "image-" + strconv.Itoa(i+1) + "." + fileExt(mt)
		}
		files[i] = payload.FormFile{Name: name, FileName: file, ContentType: mt, Data: im.Data}
	}
	enc, err := payload.NewForm(fields, files)
	if err != nil {
		return upstream.Body{}, &gateway.Error{Kind: gateway.KindInternal, Message: "cannot encode the edit's form", Err: err}
	}
	return upstream.Body{ContentType: enc.ContentType, Open: enc.Open, Length: enc.Length}, nil
}

// imageRequestFields are the text fields of a hub request as an images
// call names them (n is left to the caller: JSON wants a number). dall-e
// answers with URLs unless told otherwise, so it is asked for base64,
// which the gateway reads; gpt-image always answers base64 and refuses
// the field.
func imageRequestFields(req *llm.ImageRequest) []payload.FormField {
	out := []payload.FormField{{Name: "model", Value: req.Model}, {Name: "prompt", Value: req.Prompt}}
	if req.Width > 0 && req.Height > 0 {
		out = append(out, payload.FormField{Name: "size", Value: strconv.Itoa(req.Width) + "x" + strconv.Itoa(req.Height)})
	}
	if req.Quality != "" {
		out = append(out, payload.FormField{Name: "quality", Value: req.Quality})
	}
	if of, ok := strings.CutPrefix(req.OutputFormat, "image/"); ok && of != "" {
		out = append(out, payload.FormField{Name: "output_format", Value: of})
	}
	if strings.HasPrefix(req.Model, "dall-e") {
		out = append(out, payload.FormField{Name: "response_format", Value: "b64_json"})
	}
	return out
}

// fileExt is the file extension for a MIME type: its subtype ("jpeg" as
// "jpg", "svg+xml" as "svg"), or "bin" for a type without a usable one.
func fileExt(mt string) string {
	mt, _, _ = strings.Cut(mt, ";")
	_, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mt)), "/")
	sub, _, _ = strings.Cut(sub, "+")
	if !ok || sub == "" || strings.IndexFunc(sub, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '.' }) >= 0 {
		return "bin"
	}
	if sub == "jpeg" {
		return "jpg"
	}
	return sub
}

// DecodeImageResponse reads an images answer: b64_json entries (url
// entries are not bytes and are refused) and usage.
func (imageSpec) DecodeImageResponse(body []byte) (*llm.ImageResponse, error) {
	out := &llm.ImageResponse{Created: gjson.GetBytes(body, "created").Int()}
	mt := "image/" + cmp.Or(gjson.GetBytes(body, "output_format").Str, "png")
	var err error
	gjson.GetBytes(body, "data").ForEach(func(_, d gjson.Result) bool {
		raw, derr := base64.StdEncoding.DecodeString(d.Get("b64_json").Str)
		if derr != nil || d.Get("b64_json").Str == "" {
			err = fmt.Errorf("openai images answer: an entry without b64_json")
			return false
		}
		out.Images = append(out.Images, llm.Blob{MIMEType: mt, Data: raw})
		return true
	})
	if u, ok := ParseUsage(body); ok {
		out.Usage = u
	}
	return out, err
}

var _ endpoint.MediaLinker = imageSpec{}

// Relink replaces the url of each data entry of an images answer.
func (imageSpec) Relink(answer []byte, relink func(string) (string, bool)) []byte {
	out := answer
	gjson.GetBytes(answer, "data").ForEach(func(i, d gjson.Result) bool {
		u := d.Get("url")
		if u.Type != gjson.String || u.Str == "" || strings.HasPrefix(u.Str, "data:") {
			return true
		}
		if nu, ok := relink(u.Str); ok {
			if b, err := sjson.SetBytes(out, "data."+i.String()+".url", nu); err == nil {
				out = b
			}
		}
		return true
	})
	return out
}
