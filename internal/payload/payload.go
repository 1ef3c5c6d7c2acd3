// Package payload holds a client's request body as the gateway carries it
// from the handler through every upstream attempt: JSON bytes, or a
// multipart form whose file parts are spooled to disk past a memory bound,
// so that an upload can be re-sent to the next channel on failover without
// ever sitting whole in the heap. It imports nothing of ours.
package payload

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
)

// Body is a request body: JSON bytes, a multipart form, or neither (a
// bodiless call).
type Body struct {
	JSON []byte
	Form *Form
}

// Len is the body's size in bytes as received.
func (b Body) Len() int64 {
	if b.Form != nil {
		return b.Form.size
	}
	return int64(len(b.JSON))
}

// Close releases a form's spool; JSON bodies need nothing.
func (b Body) Close() error {
	if b.Form != nil {
		return b.Form.Close()
	}
	return nil
}

// ErrTooLarge is returned when a form exceeds its byte limit.
var ErrTooLarge = errors.New("payload: body too large")

// Limits bound a form while it is read.
type Limits struct {
	// MaxBytes bounds the whole form as received (0: 32 MiB).
	MaxBytes int64
	// MemBytes is how much of the form's content may sit in memory; file
	// content past it goes to a temporary file (0: 1 MiB).
	MemBytes int64
	// Dir is where spool files go ("" : os.TempDir()).
	Dir string
	// MaxParts bounds the number of parts (0: 1000), since every part costs
	// a header map however small its content.
	MaxParts int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 32 << 20
	}
	if l.MemBytes <= 0 {
		l.MemBytes = 1 << 20
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 1000
	}
	return l
}

// Part is one field or file of a form. Its content is in memory or in the
// form's spool file; Open reads it either way.
type Part struct {
	Name        string
	FileName    string
	ContentType string
	header      textproto.MIMEHeader
	mem         []byte
	spool       *os.File
	off, size   int64
}

// IsFile reports whether the part was sent as a file.
func (p *Part) IsFile() bool { return p.FileName != "" }

// Size is the content's length in bytes.
func (p *Part) Size() int64 { return p.size }

// Open returns a reader of the content; several may be open at once.
func (p *Part) Open() io.Reader {
	if p.spool == nil {
		return bytes.NewReader(p.mem)
	}
	return io.NewSectionReader(p.spool, p.off, p.size)
}

// Form is a parsed multipart form.
type Form struct {
	Parts []*Part
	size  int64

	mu    sync.Mutex
	spool *os.File
}

// ContentTypeBoundary returns the boundary of a multipart/form-data
// content type, or an error that says what is wrong with it.
func ContentTypeBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("malformed Content-Type %q: %w", contentType, err)
	}
	if mt != "multipart/form-data" {
		return "", fmt.Errorf("Content-Type must be multipart/form-data, got %q", mt)
	}
	b := params["boundary"]
	if b == "" {
		return "", errors.New("multipart/form-data Content-Type has no boundary")
	}
	return b, nil
}

// ReadForm reads a whole form from r. Content beyond lim.MemBytes is
// spooled to one temporary file, which Close removes.
func ReadForm(r io.Reader, boundary string, lim Limits) (*Form, error) {
	f := &Form{}
	if err := f.read(r, boundary, lim.withDefaults()); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Form) read(r io.Reader, boundary string, lim Limits) error {
	counted := &countingReader{r: r, limit: lim.MaxBytes}
	mr := multipart.NewReader(counted, boundary)
	memLeft := lim.MemBytes
	for {
		mp, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if counted.over {
				return ErrTooLarge
			}
			return fmt.Errorf("read multipart form: %w", err)
		}
		if len(f.Parts) >= lim.MaxParts {
			return fmt.Errorf("multipart form has more than %d parts", lim.MaxParts)
		}
		p := &Part{Name: mp.FormName(), FileName: mp.FileName(), ContentType: mp.Header.Get("Content-Type"), header: mp.Header}
		if err := f.readPart(p, mp, &memLeft, lim.Dir); err != nil {
			if counted.over {
				return ErrTooLarge
			}
			return err
		}
		f.Parts = append(f.Parts, p)
	}
	f.size = counted.n
	return nil
}

// fileMemBytes is the most of one file part kept in memory: a larger
// file goes to the spool after its first fileMemBytes, so that an upload
// does not first grow a buffer to the whole memory budget only to copy it
// out (text fields may use the whole budget).
const fileMemBytes = 64 << 10

// readPart keeps a part's content in memory while the budget lasts and
// moves it to the spool file the moment it would not.
func (f *Form) readPart(p *Part, r io.Reader, memLeft *int64, dir string) error {
	keep := *memLeft
	if p.IsFile() {
		keep = min(keep, fileMemBytes)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, keep+1))
	if err != nil {
		return fmt.Errorf("read part %q: %w", p.Name, err)
	}
	if n <= keep {
		*memLeft -= n
		p.mem, p.size = buf.Bytes(), n
		return nil
	}
	if f.spool == nil {
		tmp, err := os.CreateTemp(dir, "switchboard-upload-*")
		if err != nil {
			return fmt.Errorf("create upload spool: %w", err)
		}
		f.spool = tmp
	}
	off, err := f.spool.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("seek upload spool: %w", err)
	}
	w1, err := f.spool.Write(buf.Bytes())
	if err != nil {
		return fmt.Errorf("spool part %q: %w", p.Name, err)
	}
	w2, err := io.Copy(f.spool, r)
	if err != nil {
		return fmt.Errorf("spool part %q: %w", p.Name, err)
	}
	p.spool, p.off, p.size = f.spool, off, int64(w1)+w2
	return nil
}

// Close removes the spool file. The form must not be read after.
func (f *Form) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spool == nil {
		return nil
	}
	name := f.spool.Name()
	err := f.spool.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	f.spool = nil
	return err
}

// Value returns the first non-file field called name.
func (f *Form) Value(name string) (string, bool) {
	for _, p := range f.Parts {
		if p.Name == name && !p.IsFile() && p.spool == nil {
			return string(p.mem), true
		}
	}
	return "", false
}

// hasField reports whether the form has a text field called name, however
// large.
func (f *Form) hasField(name string) bool {
	for _, p := range f.Parts {
		if p.Name == name && !p.IsFile() {
			return true
		}
	}
	return false
}

// Files returns the file parts called name, in order.
func (f *Form) Files(name string) []*Part {
	var out []*Part
	for _, p := range f.Parts {
		if p.Name == name && p.IsFile() {
			out = append(out, p)
		}
	}
	return out
}

// Encoded is a form re-emitted for one upstream request.
type Encoded struct {
	ContentType string
	Length      int64
	segments    []segment
}

type segment struct {
	raw  []byte
	part *Part
}

// Open returns a fresh reader of the whole encoded form; each attempt
// opens its own.
func (e *Encoded) Open() io.ReadCloser {
	rs := make([]io.Reader, 0, len(e.segments))
	for _, s := range e.segments {
		if s.part != nil {
			rs = append(rs, s.part.Open())
		} else {
			rs = append(rs, bytes.NewReader(s.raw))
		}
	}
	return io.NopCloser(io.MultiReader(rs...))
}

// Encode re-emits the form with a new boundary, parts in their order and
// with their headers (file names and content types kept), the text fields
// named in set given new values and those named in drop left out; a field
// of set the form lacks is appended after the parts, in name order (a
// model named by the gateway where the client relied on a default). Only
// the framing is built here: content is read from memory or the spool
// when the result is opened, so its length is known without reading it.
func (f *Form) Encode(set map[string]string, drop ...string) (*Encoded, error) {
	var framing bytes.Buffer
	mw, err := newWriter(&framing)
	if err != nil {
		return nil, err
	}
	enc := &Encoded{ContentType: mw.FormDataContentType()}
	mark := 0
	cut := func() {
		if framing.Len() > mark {
			enc.segments = append(enc.segments, segment{raw: framing.Bytes()[mark:framing.Len():framing.Len()]})
			mark = framing.Len()
		}
	}
	dropped := func(name string) bool {
		for _, d := range drop {
			if d == name {
				return true
			}
		}
		return false
	}
	for _, p := range f.Parts {
		if dropped(p.Name) && !p.IsFile() {
			continue
		}
		h := make(textproto.MIMEHeader, len(p.header))
		for k, v := range p.header {
			h[k] = v
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if v, ok := set[p.Name]; ok && !p.IsFile() {
			// The new value becomes part of the framing bytes.
			if _, err := io.WriteString(pw, v); err != nil {
				return nil, err
			}
			continue
		}
		cut()
		enc.segments = append(enc.segments, segment{part: p})
		enc.Length += p.size
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		if f.hasField(name) || dropped(name) {
			continue
		}
		if err := mw.WriteField(name, set[name]); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	cut()
	// framing's buffer may have moved while it grew: take the final copy.
	all := framing.Bytes()
	pos := 0
	for i := range enc.segments {
		if s := &enc.segments[i]; s.part == nil {
			n := len(s.raw)
			s.raw = all[pos : pos+n]
			pos += n
		}
	}
	enc.Length += int64(len(all))
	return enc, nil
}

// newWriter is a multipart writer with a random boundary of ours.
func newWriter(w io.Writer) (*multipart.Writer, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("form boundary: %w", err)
	}
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary("switchboard" + hex.EncodeToString(b[:])); err != nil {
		return nil, err
	}
	return mw, nil
}

// FormField is a text field of a form the gateway writes itself.
type FormField struct{ Name, Value string }

// FormFile is a file part of a form the gateway writes itself.
type FormFile struct {
	Name, FileName, ContentType string
	Data                        []byte
}

// NewForm writes a form of fields, then files, for an upstream request
// built from a translated call (an edit's images decoded from JSON). The
// files' content is not copied: the encoded form reads it from Data each
// time it is opened, so a call's images sit in memory once however many
// attempts send them.
func NewForm(fields []FormField, files []FormFile) (*Encoded, error) {
	var framing bytes.Buffer
	mw, err := newWriter(&framing)
	if err != nil {
		return nil, err
	}
	enc := &Encoded{ContentType: mw.FormDataContentType()}
	flush := func() {
		if framing.Len() > 0 {
			enc.segments = append(enc.segments, segment{raw: bytes.Clone(framing.Bytes())})
			enc.Length += int64(framing.Len())
			framing.Reset()
		}
	}
	for _, f := range fields {
		if err := mw.WriteField(f.Name, f.Value); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition(f.Name, f.FileName))
		h.Set("Content-Type", cmp.Or(f.ContentType, "application/octet-stream"))
		if _, err := mw.CreatePart(h); err != nil {
			return nil, err
		}
		flush()
		enc.segments = append(enc.segments, segment{raw: f.Data})
		enc.Length += int64(len(f.Data))
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	flush()
	return enc, nil
}

// countingReader counts bytes and stops at a limit.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	over  bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		// Allow one byte past the limit to tell "exactly at" from "over".
		p = p[:min(len(p), 1)]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		c.over = true
		return n, ErrTooLarge
	}
	return n, err
}

// IsMultipart reports whether a Content-Type names a multipart form.
func IsMultipart(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/form-data")
}
