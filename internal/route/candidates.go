package route

// Routes lists every enabled channel that may serve model, whatever its
// health, with the model name each would send upstream: the candidates a
// call's worst-case budget hold is priced over. A channel that is
// unavailable now may recover before the call's plan reaches it, so
// health does not narrow the list.
func (r *Router) Routes(model string) []Candidate {
	rt := r.snap.Load().route(model)
	if rt == nil {
		return nil
	}
	out := make([]Candidate, 0, len(rt.entries))
	for _, e := range rt.entries {
		out = append(out, Candidate{Channel: &e.ch, UpstreamModel: e.ch.UpstreamModel(model)})
	}
	return out
}
