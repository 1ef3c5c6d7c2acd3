package pricing

// Limits are what a model can take and produce, for worst-case holds.
type Limits struct {
	// ContextWindow bounds prompt plus output tokens of one model pass;
	// no prompt can bill more input than this per pass.
	ContextWindow int64
	// MaxOutput is the most output tokens one answer can have (including
	// reasoning), used when a request sets no limit.
	MaxOutput int64
	// ImageTokens is the most input tokens one image part can bill; 0
	// means unknown, so an image bounds the prompt only by the context
	// window.
	ImageTokens int64
}

func (l Limits) merge(o Limits) Limits {
	if o.ContextWindow > 0 {
		l.ContextWindow = o.ContextWindow
	}
	if o.MaxOutput > 0 {
		l.MaxOutput = o.MaxOutput
	}
	if o.ImageTokens > 0 {
		l.ImageTokens = o.ImageTokens
	}
	return l
}

// Limits returns model's limits, matched like its price (the limits of
// the entry it is priced as, else of its own name).
func (t *Table) Limits(model string) (Limits, bool) {
	if t == nil {
		return Limits{}, false
	}
	if name, _, ok := t.match(model); ok {
		if l, ok := t.limits[name]; ok {
			return l, true
		}
	}
	l, ok := t.limits[norm(model)]
	return l, ok
}
