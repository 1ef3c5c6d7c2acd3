package openai

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/payload"
	"switchboard/internal/upstream"
)

// fields is the top level of a media request, JSON or multipart, read once
// for the few values routing, holds and meters need.
type fields struct {
	json map[string]gjson.Result
	form *payload.Form
}

// readFields reads names from body's top level.
func readFields(body payload.Body, names ...string) fields {
	if body.Form != nil {
		return fields{form: body.Form}
	}
	f := fields{json: make(map[string]gjson.Result, len(names))}
	endpoint.ParseJSON(body.JSON).ForEach(func(k, v gjson.Result) bool {
		for _, n := range names {
			if k.Str == n {
				f.json[n] = v
				break
			}
		}
		return true
	})
	return f
}

// str is a text value: a JSON string, or a form field.
func (f fields) str(name string) (string, bool, error) {
	if f.form != nil {
		v, ok := f.form.Value(name)
		return v, ok, nil
	}
	v, ok := f.json[name]
	if !ok || v.Type == gjson.Null {
		return "", false, nil
	}
	if v.Type != gjson.String {
		return "", true, invalid(name, "'%s' must be a string", name)
	}
	return v.Str, true, nil
}

// integer is a whole number in [lo, hi]: a JSON number, or a form field
// holding one.
func (f fields) integer(name string, lo, hi int64) (int64, bool, error) {
	bad := func() (int64, bool, error) {
		return 0, true, invalid(name, "'%s' must be an integer from %d to %d", name, lo, hi)
	}
	var n int64
	if f.form != nil {
		v, ok := f.form.Value(name)
		if !ok {
			return 0, false, nil
		}
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad()
		}
		n = x
	} else {
		v, ok := f.json[name]
		if !ok || v.Type == gjson.Null {
			return 0, false, nil
		}
		if v.Type != gjson.Number || v.Num != float64(int64(v.Num)) {
			return bad()
		}
		n = v.Int()
	}
	if n < lo || n > hi {
		return bad()
	}
	return n, true, nil
}

// number is a JSON number, or a form field holding one.
func (f fields) number(name string) (float64, bool, error) {
	if f.form != nil {
		v, ok := f.form.Value(name)
		if !ok {
			return 0, false, nil
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, true, invalid(name, "'%s' must be a number", name)
		}
		return x, true, nil
	}
	v, ok := f.json[name]
	if !ok || v.Type == gjson.Null {
		return 0, false, nil
	}
	if v.Type != gjson.Number {
		return 0, true, invalid(name, "'%s' must be a number", name)
	}
	return v.Num, true, nil
}

// boolean is a JSON boolean, or a form field "true" / "false".
func (f fields) boolean(name string) (bool, error) {
	if f.form != nil {
		v, ok := f.form.Value(name)
		if !ok {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, invalid(name, "'%s' must be a boolean", name)
		}
		return b, nil
	}
	v, ok := f.json[name]
	switch {
	case !ok || v.Type == gjson.Null || v.Type == gjson.False:
		return false, nil
	case v.Type == gjson.True:
		return true, nil
	}
	return false, invalid(name, "'%s' must be a boolean", name)
}

// oneOf checks that a text value, when present, is one of allowed.
func (f fields) oneOf(name string, allowed ...string) (string, error) {
	v, ok, err := f.str(name)
	if err != nil || !ok {
		return v, err
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", invalid(name, "'%s' must be one of %s, got %q", name, strings.Join(allowed, ", "), v)
}

// model reads the model, or def when the request names none (OpenAI's
// own default for the endpoint); "" def makes it required.
func (f fields) model(def string) (string, error) {
	m, ok, err := f.str("model")
	if err != nil {
		return "", err
	}
	if !ok || m == "" {
		if def == "" {
			return "", invalid("model", "you must provide a model parameter").WithCode("missing_required_parameter")
		}
		return def, nil
	}
	return strings.Clone(m), nil
}

// required checks that a text field is present and not empty.
func (f fields) required(name string) (string, error) {
	v, ok, err := f.str(name)
	if err != nil {
		return "", err
	}
	if !ok || v == "" {
		return "", invalid(name, "'%s' is a required property", name).WithCode("missing_required_parameter")
	}
	return v, nil
}

// passMedia is the pass-through body of a media request: JSON with the
// model spliced in, or the form re-emitted with its model field set
// (added when the client relied on the default and the channel maps it).
func passMedia(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	if body.Form == nil {
		b, err := setModel(body.JSON, p.Model, upstreamModel)
		return upstream.JSON(b), err
	}
	var set map[string]string
	if _, named := body.Form.Value("model"); named || upstreamModel != p.Model {
		set = map[string]string{"model": upstreamModel}
	}
	enc, err := body.Form.Encode(set)
	if err != nil {
		return upstream.Body{}, &gateway.Error{Kind: gateway.KindInternal, Message: "cannot re-encode the upload", Err: err}
	}
	return upstream.Body{ContentType: enc.ContentType, Open: enc.Open, Length: enc.Length}, nil
}

// formTextBytes is the size of a request's text: a JSON body's length, or
// a form's text fields (its files are uploads, not prompt text).
func formTextBytes(body payload.Body) int64 {
	if body.Form == nil {
		return int64(len(body.JSON))
	}
	var n int64
	for _, p := range body.Form.Parts {
		if !p.IsFile() {
			n += p.Size() + int64(len(p.Name))
		}
	}
	return n
}
