package relay

import (
	"context"
	"net/http"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// embedTranslation relays an embeddings call through the hub to a channel
// of another format.
type embedTranslation struct {
	engine *Engine
	cs     *callState
	in     endpoint.EmbedCodec
	up     endpoint.Spec
	out    endpoint.EmbedCodec
}

func (t *embedTranslation) upstreamSpec() endpoint.Spec { return t.up }
func (t *embedTranslation) passThrough() bool           { return false }

func (t *embedTranslation) requestBody(context.Context) (upstream.Body, *gateway.Error) {
	c := t.cs.call
	if t.cs.embedReq == nil {
		req, err := t.in.DecodeEmbed(c.Peek, c.Body)
		if err != nil {
			return upstream.Body{}, gateway.AsError(err)
		}
		t.cs.embedReq = req
	}
	req := *t.cs.embedReq
	req.Model = t.cs.cand.UpstreamModel
	body, err := t.out.EncodeEmbedRequest(&req)
	if err != nil {
		return upstream.Body{}, gateway.AsError(err)
	}
	return upstream.JSON(body), nil
}

func (t *embedTranslation) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	e := t.engine
	c := t.cs.call
	body, err := readLimited(resp, e.maxResponseBytes())
	if err != nil {
		return e.readFailure(t.cs, err)
	}
	req := t.cs.embedReq
	var out *llm.EmbedResponse
	if err = upstreamJSON.Check(body); err == nil {
		out, err = t.out.DecodeEmbedResponse(body, req)
	}
	if err != nil {
		e.report(t.cs, gateway.OutcomeFailure, 0, "upstream answer malformed")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer could not be understood", Err: err}
	}
	e.accepted(t.cs)
	res.ttft = time.Since(c.Start)
	if out.Usage.InputTokens > 0 {
		res.usage, res.source = out.Usage, gateway.UsageFromUpstream
	} else {
		// Gemini reports no usage for embeddings: count the inputs.
		var n tokencount.Stream
		for _, in := range req.Inputs {
			if in.IsTokens() {
				n.Add(int64(len(in.Tokens)))
				continue
			}
			n.WriteString(in.Text)
		}
		out.Usage.InputTokens = n.Total()
		res.usage, res.source = out.Usage, gateway.UsageEstimated
	}
	enc, err := t.in.EncodeEmbed(out, req)
	if err != nil {
		return gateway.AsError(err)
	}
	e.answerJSON(ctx, w, t.cs, res, enc)
	return nil
}

func (t *embedTranslation) stream(context.Context, http.ResponseWriter, *http.Response, *result, *idleTimer) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, "embeddings do not stream")
}
