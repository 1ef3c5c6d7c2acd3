package relay

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// imageTranslation relays an image call through the image hub to a
// channel of another format (an OpenAI images client and a Gemini image
// model). The upstream is asked for a whole answer; a client that asked
// for a stream gets it as its format's events once the images are made.
type imageTranslation struct {
	engine *Engine
	cs     *callState
	in     endpoint.ImageClient
	// ups are the channel family's image specs in order of preference;
	// up (and out, the same spec) is the one that carries the call, chosen
	// once the call is decoded (an edit with images goes to OpenAI's
	// images/edits, a generation to images/generations).
	ups []endpoint.Spec
	up  endpoint.Spec
	out endpoint.ImageUpstream
}

func (t *imageTranslation) upstreamSpec() endpoint.Spec { return t.up }
func (t *imageTranslation) passThrough() bool           { return false }
func (t *imageTranslation) oneShot() bool               { return true }

func (t *imageTranslation) requestBody(context.Context) (upstream.Body, *gateway.Error) {
	c := t.cs.call
	if t.cs.imageReq == nil {
		req, err := t.in.DecodeImage(c.Peek, c.Body)
		if err != nil {
			return upstream.Body{}, gateway.AsError(err)
		}
		t.cs.imageReq = req
	}
	if t.up == nil {
		if gerr := t.choose(); gerr != nil {
			return upstream.Body{}, gerr
		}
	}
	req := *t.cs.imageReq
	req.Model = t.cs.cand.UpstreamModel
	if be, ok := t.out.(endpoint.ImageBodyEncoder); ok {
		body, err := be.EncodeImageBody(&req)
		if err != nil {
			return upstream.Body{}, gateway.AsError(err)
		}
		return body, nil
	}
	body, err := t.out.EncodeImageRequest(&req)
	if err != nil {
		return upstream.Body{}, gateway.AsError(err)
	}
	return upstream.JSON(body), nil
}

// choose picks the first of ups that carries the decoded call.
func (t *imageTranslation) choose() *gateway.Error {
	for _, up := range t.ups {
		iu, ok := up.(endpoint.ImageUpstream)
		if !ok {
			continue
		}
		if r, ok := up.(endpoint.ImageRouter); ok && !r.CarriesImage(t.cs.imageReq) {
			continue
		}
		t.up, t.out = up, iu
		return nil
	}
	return gateway.Errorf(gateway.KindInvalidRequest, "model %q is served by a channel whose image API cannot carry this call", t.cs.call.Peek.Model)
}

func (t *imageTranslation) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	e := t.engine
	c := t.cs.call
	body, err := readLimited(resp, e.maxResponseBytes())
	if err != nil {
		return e.readFailure(t.cs, err)
	}
	var answer *llm.ImageResponse
	if err = upstreamJSON.Check(body); err == nil {
		answer, err = t.out.DecodeImageResponse(body)
	}
	if err == nil && len(answer.Images) == 0 {
		err = errNoImages
	}
	if err != nil {
		e.report(t.cs, gateway.OutcomeFailure, 0, "upstream answer malformed")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer held no image the gateway could read", Err: err}
	}
	e.accepted(t.cs)
	res.ttft = time.Since(c.Start)
	res.usage, res.source = answer.Usage, gateway.UsageFromUpstream
	if answer.Usage.IsZero() {
		// Priced per image (dall-e): by the size and quality asked for.
		res.source = gateway.UsageMissing
		res.units = []gateway.Metered{{Unit: imageUnit(t.cs.imageReq), Count: int64(len(answer.Images))}}
	}
	if answer.Created == 0 {
		answer.Created = c.Start.Unix()
	}
	req := t.cs.imageReq
	if req.URL && e.Media != nil {
		t.store(answer)
	}
	if c.Peek.Stream {
		res.started = true
		e.finish(ctx, t.cs, *res)
		startStream(w, t.in.ImageStreamType(c.Peek))
		_ = t.in.EncodeImageEvents(sse.NewWriter(w), c.Peek, answer, req)
		return nil
	}
	enc, err := t.in.EncodeImage(answer, req)
	if err != nil {
		return gateway.AsError(err)
	}
	e.answerJSON(ctx, w, t.cs, res, enc)
	return nil
}

func (t *imageTranslation) stream(context.Context, http.ResponseWriter, *http.Response, *result, *idleTimer) *gateway.Error {
	return gateway.Errorf(gateway.KindInternal, "a translated image call asks for a whole answer")
}

var errNoImages = &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answered without an image"}

// store keeps the answer's images for the client that asked for URLs; an
// image that cannot be stored (the key's quota is used up) is answered as
// a data: URL, and the ledger says so.
func (t *imageTranslation) store(answer *llm.ImageResponse) {
	c := t.cs.call
	for i := range answer.Images {
		im := &answer.Images[i]
		path, err := t.engine.Media.Put(c.Key.ID, im.MIMEType, im.Data)
		if err != nil {
			t.cs.rec.ErrorMessage = appendNote(t.cs.rec.ErrorMessage, "media not stored: "+err.Error())
			continue
		}
		im.URL = c.BaseURL + path
	}
}

// relink fetches an upstream's media link through the SSRF guard, stores
// it for the call's key and returns the gateway's own link for it.
func (e *Engine) relink(ctx context.Context, cs *callState, u string) (string, bool) {
	c := cs.call
	mt, b64, err := e.Fetcher.Fetch(ctx, u)
	var data []byte
	if err == nil {
		data, err = base64.StdEncoding.DecodeString(b64)
	}
	var path string
	if err == nil {
		path, err = e.Media.Put(c.Key.ID, mt, data)
	}
	if err != nil {
		cs.rec.ErrorMessage = appendNote(cs.rec.ErrorMessage, "media link not proxied: "+err.Error())
		return u, false
	}
	return c.BaseURL + path, true
}

// imageUnit names one image of req as price tables spell it:
// "image:1024x1024:hd", without the variants the request leaves open.
func imageUnit(req *llm.ImageRequest) string {
	if req.Width <= 0 || req.Height <= 0 {
		return gateway.UnitImage
	}
	u := fmt.Sprintf("%s:%dx%d", gateway.UnitImage, req.Width, req.Height)
	if q := strings.ToLower(req.Quality); q != "" && q != "auto" {
		u += ":" + q
	}
	return u
}
