package upstream

import "net/http"

// NewClient is the HTTP client for upstream calls. It never follows a
// redirect: a 307 would re-send the body and the channel's credentials
// (x-api-key, x-goog-api-key, api-key and custom headers survive a
// same-host hop; the body always does) wherever the upstream points, and a
// 302 to an internal address would fetch that address's content and hand
// it to the client as the answer. The 3xx itself comes back as the
// response, which the relay treats as a failed attempt.
func NewClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: refuseRedirect}
}

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// IsRedirect reports a 3xx status, which no upstream API answers to a
// call: a redirect means a misconfigured or hostile base URL.
func IsRedirect(status int) bool { return status >= 300 && status < 400 }
