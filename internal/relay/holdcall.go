package relay

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/upstream"
)

// HeaderMaxTokensLowered tells the client that its call's output limit was
// lowered to what the key's remaining budget affords, and to what.
const HeaderMaxTokensLowered = "X-Switchboard-Max-Tokens-Lowered"

// defaultServerSearches bounds an Anthropic web_search tool that sets no
// max_uses (the provider sets no limit of its own).
const defaultServerSearches = 10

// holdCall describes c for its worst-case hold: the client model, every
// channel that may serve it with the upstream model it would send, the
// prompt by its parts, the output limit, n and server-tool uses.
func (e *Engine) holdCall(c *Call) pricing.Call {
	pc := pricing.Call{
		ClientModel: c.Peek.Model,
		MaxOutput:   c.Peek.MaxOutput,
		N:           int64(c.Peek.Choices()),
		MinOutput:   e.MinOutputTokens,
	}
	for _, cand := range e.Router.Routes(c.Peek.Model) {
		pc.Routes = append(pc.Routes, pricing.Route{UpstreamModel: cand.UpstreamModel, Channel: cand.Channel})
	}
	if hs, ok := c.Spec.(endpoint.Holder); ok {
		// The spec knows its worst case in tokens (a token is at least a
		// byte, so tokens stand in for bytes) and units; its output bound
		// covers every choice already.
		w := hs.Worst(c.Peek, c.Body)
		pc.Prompt = pricing.Prompt{TextBytes: w.InputTokens}
		pc.MaxOutput, pc.N = w.OutputTokens, 1
		pc.Units = w.Units
		return pc
	}
	switch {
	case c.hub != nil:
		pc.Prompt = hubPrompt(c.hub)
	case c.Body.Form != nil:
		// A multipart upload (audio, images to edit): its files can be
		// billed only up to the model's context window.
		pc.Prompt = pricing.Prompt{TextBytes: c.Body.Len(), OtherMedia: 1}
	default:
		pc.Prompt = jsonPrompt(c.Body.JSON)
		pc.Units, pc.Passes = serverTools(c.Body.JSON, pc.N)
	}
	return pc
}

// hold reserves the call's worst case against the key's budget: refused
// before any upstream call when the call has no price (unless the pricing
// policy lets it through) or when not even a minimal answer fits; when
// the budget covers less than the worst case, the output limit sent
// upstream is lowered to what it affords and the client told so.
func (cs *callState) hold(ctx context.Context, w http.ResponseWriter) *gateway.Error {
	c := cs.call
	if cs.free || c.Key.BudgetNanoUSD <= 0 {
		return nil
	}
	e := cs.e
	h := e.Prices.Hold(e.holdCall(c))
	if !h.Priced {
		if admit, _ := e.Unpriced.Admit(c.Key); !admit {
			return pricing.RefuseUnpriced(c.Peek.Model, h.Unpriced)
		}
	}
	// Something is always held, so an exhausted budget refuses even a call
	// the policy lets through unpriced.
	amount := max(h.Amount, 1)
	least := amount
	lowerable := c.Spec.Op() == upstream.OpChat && c.Body.Form == nil && h.Amount > 0
	if lowerable {
		least = max(h.Min, 1)
	}
	var err error
	held := amount
	if holder, ok := e.Budget.(gateway.Holder); ok {
		held, err = holder.Hold(ctx, gateway.HoldRequest{KeyID: c.Key.ID, RequestID: c.RequestID, Amount: amount, Min: least})
	} else {
		err = e.Budget.Reserve(ctx, c.Key.ID, c.RequestID, amount)
	}
	if err != nil {
		if errors.Is(err, gateway.ErrBudgetExceeded) {
			msg := "this key's budget is exhausted"
			if lowerable && h.Amount > 0 {
				msg = "this key's remaining budget cannot cover even a minimal answer from this model"
			}
			return &gateway.Error{Kind: gateway.KindInsufficientQuota, Message: msg, Code: "insufficient_quota"}
		}
		e.Log.Error("reserve budget", "request_id", c.RequestID, "err", err)
		return &gateway.Error{Kind: gateway.KindInternal, Message: "could not check the key's budget", Err: err}
	}
	cs.reserved = true
	if !lowerable {
		return nil
	}
	switch {
	case held < h.Amount:
		out, ok := h.Affordable(held)
		if !ok {
			// Hold granted at least Min, which affords the minimum.
			out = min(e.minOutput(), h.OutputLimit)
		}
		cs.outLimit = out
		w.Header().Set(HeaderMaxTokensLowered, strconv.FormatInt(out, 10))
	case !h.Bounded:
		// The hold assumed an output limit (the package default) that
		// neither the request nor the model table sets, which the provider
		// need not enforce: send it.
		cs.outLimit = h.OutputLimit
	}
	return nil
}

func (e *Engine) minOutput() int64 {
	if e.MinOutputTokens > 0 {
		return e.MinOutputTokens
	}
	return pricing.DefaultMinOutput
}
