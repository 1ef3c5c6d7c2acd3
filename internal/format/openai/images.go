package openai

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

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
