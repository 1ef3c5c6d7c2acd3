package safefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrRefused marks a Post whose target the guard refused (a denied address,
// a bad URL): retrying cannot help.
var ErrRefused = errors.New("safefetch: target refused")

// CheckURL vets a client-supplied callback URL before it is stored: http
// or https, absolute, with a host and no credentials. The address is
// checked again when Post dials it.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %s is not a valid URL", ErrRefused, quoteURL(rawURL))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fmt.Errorf("%w: %s is not an http or https URL", ErrRefused, quoteURL(rawURL))
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s must not carry credentials", ErrRefused, quoteURL(u.Redacted()))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: %s has no host", ErrRefused, quoteURL(rawURL))
	}
	return nil
}

// Post sends body to rawURL (a webhook) under the same guard as Fetch:
// the dialled address is checked, redirects are not followed, the answer
// is read up to 64 KiB and dropped, the whole exchange is bounded by the
// Fetcher's timeout. It returns the answer's status; an error wrapping
// ErrRefused when the guard refused the target.
func (f *Fetcher) Post(ctx context.Context, rawURL string, header http.Header, body []byte) (int, error) {
	if err := CheckURL(rawURL); err != nil {
		return 0, err
	}
	fctx, cancel := context.WithTimeoutCause(ctx, f.opts.Timeout, errFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", userAgent)
	client := *f.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return 0, fmt.Errorf("%w: %s", ErrRefused, describeRefusal(req, err, refused))
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
