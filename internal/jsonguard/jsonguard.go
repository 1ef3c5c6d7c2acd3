// Package jsonguard vets a request body in one iterative pass before any
// recursive parser or walker sees it: JSON syntax (exactly what
// encoding/json accepts), a bound on nesting depth, and duplicates among
// the fields routing reads. gjson and friends recurse once per nesting
// level, so megabytes of "[[[[" overflow the goroutine stack — a fatal error
// no recover catches — and a body that names "model" twice lets the gateway
// check one value while an upstream runs the other. The scan keeps its state
// in a fixed-size array, never recurses and allocates nothing unless it
// reports an error.
package jsonguard

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting bound when Options leaves it unset; the
// providers' own limits are of this order.
const DefaultMaxDepth = 512

// MaxDepthLimit is the largest bound a Guard accepts: encoding/json's own.
const MaxDepthLimit = 10000

// maxFields bounds the protected fields of one level (a bit mask each).
const maxFields = 64

// Kind classifies a refusal.
type Kind int

const (
	Syntax       Kind = iota + 1 // not JSON
	TooDeep                      // nested deeper than the bound
	DuplicateKey                 // a protected field appears twice
	NotObject                    // the top level is not an object
)

// Error is a refusal; its text is meant for the caller's 400.
type Error struct {
	Kind   Kind
	Offset int    // byte offset where the problem was seen
	Field  string // DuplicateKey: the field as the Guard was told its name
	Limit  int    // TooDeep: the bound
	detail string // Syntax: what was wrong
}

func (e *Error) Error() string {
	switch e.Kind {
	case TooDeep:
		return fmt.Sprintf("the request body nests JSON deeper than %d levels", e.Limit)
	case DuplicateKey:
		return fmt.Sprintf("the request body sets %q more than once", e.Field)
	case NotObject:
		return "the request body must be a JSON object"
	}
	return fmt.Sprintf("the request body is not valid JSON: %s at byte %d", e.detail, e.Offset)
}

// Options configure a Guard.
type Options struct {
	// MaxDepth bounds nesting (an object or array inside another counts one
	// more level); 0 means DefaultMaxDepth. At most MaxDepthLimit.
	MaxDepth int
	// UniqueFields may appear at most once. A field is a top-level key
	// ("model") or a key inside a top-level object ("stream_options.include_usage").
	// Spellings a decoder treats as one field are joined with '|'
	// ("generationConfig|generation_config.maxOutputTokens|max_output_tokens").
	// Keys are compared after unescaping and with Unicode case folding,
	// as encoding/json matches struct fields, so "MODEL" and "mod\u0065l"
	// are "model" too. At most 64 per level.
	UniqueFields []string
	// RequireObject refuses a body whose top level is not an object.
	RequireObject bool
}

// Guard checks bodies; it is immutable and safe for concurrent use.
type Guard struct {
	maxDepth      int
	requireObject bool
	top           []field
	longest       int // bytes of the longest protected spelling, for the key buffer
}

type field struct {
	name     string   // as configured, for errors
	spelling [][]byte // equivalent spellings
	children []field  // protected keys of the object this field holds
}

// New returns a Guard. It panics on a bound outside 0..MaxDepthLimit or on
// more than 64 protected fields at one level: both are programming errors.
func New(o Options) *Guard {
	g := &Guard{maxDepth: o.MaxDepth, requireObject: o.RequireObject}
	if g.maxDepth == 0 {
		g.maxDepth = DefaultMaxDepth
	}
	if g.maxDepth < 0 || g.maxDepth > MaxDepthLimit {
		panic(fmt.Sprintf("jsonguard: MaxDepth %d outside 1..%d", o.MaxDepth, MaxDepthLimit))
	}
	for _, spec := range o.UniqueFields {
		parent, child, nested := strings.Cut(spec, ".")
		i := g.topIndex(parent)
		if !nested {
			continue
		}
		f := &g.top[i]
		if slicesIndex(f.children, child) < 0 {
			f.children = append(f.children, g.newField(spec, child))
		}
		if len(f.children) > maxFields {
			panic("jsonguard: more than 64 protected fields in one object")
		}
	}
	if len(g.top) > maxFields {
		panic("jsonguard: more than 64 protected top-level fields")
	}
	return g
}

func (g *Guard) topIndex(parent string) int {
	if i := slicesIndex(g.top, parent); i >= 0 {
		return i
	}
	g.top = append(g.top, g.newField(parent, parent))
	return len(g.top) - 1
}

func slicesIndex(fs []field, spellings string) int {
	for i, f := range fs {
		if f.key() == spellings {
			return i
		}
	}
	return -1
}

func (f field) key() string {
	parts := make([]string, len(f.spelling))
	for i, s := range f.spelling {
		parts[i] = string(s)
	}
	return strings.Join(parts, "|")
}

func (g *Guard) newField(name, spellings string) field {
	f := field{name: displayName(name)}
	for _, s := range strings.Split(spellings, "|") {
		f.spelling = append(f.spelling, []byte(s))
		g.longest = max(g.longest, len(s))
	}
	return f
}

// displayName is a field as errors name it: the first spelling of each part.
func displayName(spec string) string {
	parts := strings.Split(spec, ".")
	for i, p := range parts {
		parts[i], _, _ = strings.Cut(p, "|")
	}
	return strings.Join(parts, ".")
}

// match returns the index in fs of the field key spells, or -1.
func match(fs []field, key []byte) int {
	for i := range fs {
		for _, s := range fs[i].spelling {
			if bytes.EqualFold(key, s) {
				return i
			}
		}
	}
	return -1
}

// Parser states.
const (
	wantValue = iota
	afterValue
	wantKey
)

// keyBufSize holds the unescaped form of any key that could fold-match a
// protected name: a folded rune is at most 3 bytes longer than its ASCII
// twin ("K", U+212A KELVIN SIGN, is 3 bytes for "k"'s 1).
const keyBufSize = 4*64 + 4

// Check vets body. It returns nil or an *Error.
func (g *Guard) Check(body []byte) error { return g.scan(body, nil, nil) }

// String is a string token as it appears in a document: Raw excludes the
// quotes and keeps escapes, which AppendUnescaped decodes.
type String struct {
	Raw     []byte
	Escaped bool
}

// Visit vets body as Check does and calls fn, in document order, with every
// string value and the key it is the value of (Raw nil for an element of an
// array and for a top-level string). It stops at the first problem and
// returns it; fn has seen the values before it. Visit allocates nothing of
// its own, so a walk over a body costs one linear pass.
func (g *Guard) Visit(body []byte, fn func(key, value String)) error {
	return g.scan(body, fn, nil)
}

// Fields vets body as Check does and, when its top level is an object,
// calls fn with each member in order: the key, and the raw bytes of its
// value (aliasing body, whitespace trimmed). A router peeks at the few
// fields it needs this way in the same pass that vets the body, without
// the copy of the whole body that gjson.ParseBytes makes.
func (g *Guard) Fields(body []byte, fn func(key String, value []byte)) error {
	return g.scan(body, nil, fn)
}

func (g *Guard) scan(body []byte, visit func(key, value String), member func(key String, value []byte)) error {
	// stack holds one bit per open container: 1 for an object.
	var stack [MaxDepthLimit/64 + 1]uint64
	var keyBuf [keyBufSize]byte
	depth := 0
	var seenTop, seenChild uint64
	// children is the protected-key list of the depth-2 object being
	// scanned (nil when its parent key is not protected); pending is the
	// field whose value comes next at depth 1.
	var children []field
	pending := -1
	var lastKey String // the key whose value comes next, for visit
	var topKey String  // the top-level key whose value is being scanned, for member
	topStart := -1     // where that value starts
	n := len(body)
	pos := skipSpace(body, 0)
	if pos == n {
		return syntaxErr(pos, "unexpected end of input")
	}
	if g.requireObject && body[pos] != '{' {
		return &Error{Kind: NotObject, Offset: pos}
	}
	state := wantValue
	for {
		switch state {
		case wantValue:
			if pos >= n {
				return syntaxErr(pos, "unexpected end of input")
			}
			if member != nil && depth == 1 && topStart < 0 && stack[0]&1 != 0 {
				topStart = pos
			}
			c := body[pos]
			switch {
			case c == '{' || c == '[':
				depth++
				if depth > g.maxDepth {
					return &Error{Kind: TooDeep, Offset: pos, Limit: g.maxDepth}
				}
				w, bit := (depth-1)/64, uint64(1)<<((depth-1)%64)
				if c == '{' {
					stack[w] |= bit
				} else {
					stack[w] &^= bit
				}
				if depth == 2 {
					children, seenChild = nil, 0
					if pending >= 0 && c == '{' {
						children = g.top[pending].children
					}
				}
				pos = skipSpace(body, pos+1)
				if pos < n && (body[pos] == '}' && c == '{' || body[pos] == ']' && c == '[') {
					pos++
					depth--
					state = afterValue
				} else if c == '{' {
					state = wantKey
				}
			case c == '"':
				end, escaped, err := scanString(body, pos)
				if err != nil {
					return err
				}
				if visit != nil {
					var key String
					if depth > 0 && stack[(depth-1)/64]&(uint64(1)<<((depth-1)%64)) != 0 {
						key = lastKey
					}
					visit(key, String{Raw: body[pos+1 : end-1], Escaped: escaped})
				}
				pos = end
				state = afterValue
			case c == '-' || '0' <= c && c <= '9':
				end, err := scanNumber(body, pos)
				if err != nil {
					return err
				}
				pos = end
				state = afterValue
			case c == 't':
				if pos, state = literal(body, pos, "true"); state < 0 {
					return syntaxErr(pos, "invalid literal")
				}
			case c == 'f':
				if pos, state = literal(body, pos, "false"); state < 0 {
					return syntaxErr(pos, "invalid literal")
				}
			case c == 'n':
				if pos, state = literal(body, pos, "null"); state < 0 {
					return syntaxErr(pos, "invalid literal")
				}
			default:
				return syntaxErr(pos, fmt.Sprintf("invalid character %q looking for a value", c))
			}
		case afterValue:
			if depth == 0 {
				if pos = skipSpace(body, pos); pos != n {
					return syntaxErr(pos, "invalid character after the top-level value")
				}
				return nil
			}
			if depth == 1 && topStart >= 0 {
				member(topKey, body[topStart:pos])
				topStart = -1
			}
			pos = skipSpace(body, pos)
			if pos >= n {
				return syntaxErr(pos, "unexpected end of input")
			}
			inObject := stack[(depth-1)/64]&(uint64(1)<<((depth-1)%64)) != 0
			switch c := body[pos]; {
			case c == ',':
				pos = skipSpace(body, pos+1)
				if inObject {
					state = wantKey
				} else {
					state = wantValue
				}
			case c == '}' && inObject, c == ']' && !inObject:
				pos++
				depth--
			default:
				return syntaxErr(pos, fmt.Sprintf("invalid character %q after a value", c))
			}
		case wantKey:
			if pos >= n || body[pos] != '"' {
				return syntaxErr(pos, "expected a string key")
			}
			start := pos
			end, escaped, err := scanString(body, pos)
			if err != nil {
				return err
			}
			pos = end
			lastKey = String{Raw: body[start+1 : end-1], Escaped: escaped}
			if depth == 1 {
				pending = -1
				topKey = lastKey
			}
			var list []field
			var seen *uint64
			switch {
			case depth == 1 && len(g.top) > 0:
				list, seen = g.top, &seenTop
			case depth == 2 && children != nil:
				list, seen = children, &seenChild
			}
			if list != nil {
				key := body[start+1 : end-1]
				if escaped {
					var whole bool
					if key, whole = AppendUnescaped(keyBuf[:0], key, min(keyBufSize, 4*g.longest+4)); !whole {
						key = nil // longer than any protected name: matches none
					}
				}
				if i := match(list, key); i >= 0 {
					if *seen&(1<<i) != 0 {
						return &Error{Kind: DuplicateKey, Offset: start, Field: list[i].name}
					}
					*seen |= 1 << i
					if depth == 1 {
						pending = i
					}
				}
			}
			pos = skipSpace(body, pos)
			if pos >= n || body[pos] != ':' {
				return syntaxErr(pos, "expected ':' after an object key")
			}
			pos = skipSpace(body, pos+1)
			state = wantValue
		}
	}
}

func syntaxErr(pos int, detail string) *Error {
	return &Error{Kind: Syntax, Offset: pos, detail: detail}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// literal matches word at b[i:]; the state is afterValue, or -1 on a mismatch.
func literal(b []byte, i int, word string) (int, int) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, -1
	}
	return i + len(word), afterValue
}

// plain marks the bytes a string may hold without a closer look.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the offset after the string starting at b[i] (a
// quote) and whether it holds escapes.
func scanString(b []byte, i int) (int, bool, error) {
	escaped := false
	i++
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false, syntaxErr(i, "unterminated string")
		}
		switch c := b[i]; c {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, false, syntaxErr(i, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false, syntaxErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return i, false, syntaxErr(i, "invalid escape in string")
			}
		default:
			return i, false, syntaxErr(i, "control character in string")
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) rune {
	switch {
	case c <= '9':
		return rune(c - '0')
	case c >= 'a':
		return rune(c - 'a' + 10)
	}
	return rune(c - 'A' + 10)
}

// scanNumber returns the offset after the number starting at b[i].
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || b[i+1] < '0' || b[i+1] > '9' {
			return i, syntaxErr(start, "invalid number")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, syntaxErr(start, "invalid number")
		}
		i = digits(b, i)
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// AppendUnescaped appends the decoded form of a string token's Raw bytes
// (as scanned by Check or Visit) to dst, as encoding/json decodes it:
// invalid surrogates become U+FFFD. With limit >= 0 it stops before dst
// would grow past limit bytes and reports false, so a caller holding a
// fixed buffer never allocates; limit < 0 means no limit.
func AppendUnescaped(dst, s []byte, limit int) ([]byte, bool) {
	for i := 0; i < len(s); {
		if limit >= 0 && len(dst)+utf8.UTFMax > limit {
			return dst, false
		}
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'u':
			r := hexVal(s[i+2])<<12 | hexVal(s[i+3])<<8 | hexVal(s[i+4])<<4 | hexVal(s[i+5])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hexVal(s[i+2])<<12 | hexVal(s[i+3])<<8 | hexVal(s[i+4])<<4 | hexVal(s[i+5])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		case 'b':
			dst, i = append(dst, '\b'), i+2
		case 'f':
			dst, i = append(dst, '\f'), i+2
		case 'n':
			dst, i = append(dst, '\n'), i+2
		case 'r':
			dst, i = append(dst, '\r'), i+2
		case 't':
			dst, i = append(dst, '\t'), i+2
		default: // '"', '\\', '/'
			dst, i = append(dst, s[i+1]), i+2
		}
	}
	return dst, true
}

// WithinDepth reports whether b, JSON or not, opens no more than limit
// brackets at once outside strings. It is the cheap bound to apply before a
// recursive parser sees bytes that need not be valid JSON (a stream event
// such as "[DONE]"): linear, iterative, allocation-free.
func WithinDepth(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if depth++; depth > limit {
				return false
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return true
}
