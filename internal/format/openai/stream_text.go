package openai

import "bytes"

// Markers of the common stream chunk, whose first choice's delta is a
// content string and nothing else.
var (
	choicesMarker = []byte(`"choices":[{`)
	contentDelta  = []byte(`"delta":{"content":"`)
	deltaKey      = []byte(`"delta"`)
)

// contentOnlyText returns the text of the common chunk
// {..., "choices":[{"index":0,"delta":{"content":"..."}, ...}]} without
// walking the JSON: EventText's full walk was about a quarter of a
// passed-through stream's in-process CPU. ok is false for anything else
// — nested or unusual fields before choices or the delta, a delta with
// more than content, an escaped string — and the caller walks the chunk
// instead. For valid JSON it agrees with that walk
// (FuzzContentOnlyText).
func contentOnlyText(data []byte) (text []byte, ok bool) {
	j := bytes.Index(data, choicesMarker)
	if j < 0 {
		return nil, false
	}
	// choices is a top-level key, the first of its name, and nothing
	// before it nests: exactly the object's own '{' and no '['.
	head := data[:j]
	if bytes.Count(head, []byte{'{'}) != 1 || bytes.IndexByte(head, '[') >= 0 || bytes.Contains(head, []byte(`"choices"`)) {
		return nil, false
	}
	rest := data[j+len(choicesMarker):]
	i := bytes.Index(rest, contentDelta)
	if i < 0 {
		return nil, false
	}
	// The delta is a key of the first choice itself, its first "delta",
	// with only scalars before it.
	if bytes.ContainsAny(rest[:i], "{}[]") || bytes.Contains(rest[:i], deltaKey) {
		return nil, false
	}
	s := rest[i+len(contentDelta):]
	end := bytes.IndexByte(s, '"')
	if end < 0 || bytes.IndexByte(s[:end], '\\') >= 0 || end+1 >= len(s) || s[end+1] != '}' {
		return nil, false
	}
	return s[:end], true
}
