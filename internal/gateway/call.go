package gateway

// Unit is a metered quantity that is not tokens: images generated, seconds
// of audio or video, characters spoken, calls made. Prices name a unit by
// Kind and, where the price depends on it, Variant (an image size and
// quality, a video resolution).
type Unit struct {
	Kind     string `json:"kind"`              // "image", "second", "character", "call", ...
	Variant  string `json:"variant,omitempty"` // e.g. "1024x1024/high"; "" for the plain kind
	Quantity int64  `json:"quantity"`
}

// Well-known unit kinds.
const (
	UnitImage     = "image"
	UnitSecond    = "second"
	UnitCharacter = "character"
	UnitCall      = "call"
)
