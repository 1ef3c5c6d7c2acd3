package task

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/format/midjourney"
	"switchboard/internal/gateway"
)

// MediaFetcher downloads an upstream's media URL (safefetch.Fetcher).
type MediaFetcher interface {
	Fetch(ctx context.Context, rawURL string) (mediaType string, b64 string, err error)
}

// Media proxies a task's images through the gateway: task objects carry
// a signed, expiring gateway URL instead of the upstream's, and the
// gateway fetches the upstream's image when that URL is followed. The
// signature is the capability, so the URL works in an <img> tag without
// the client's key.
type Media struct {
	Secret []byte
	// Base is the gateway's public URL (https://gw.example.com).
	Base string
	TTL  time.Duration
	// Fetcher downloads the upstream image under the SSRF guard.
	Fetcher MediaFetcher
	Now     func() time.Time
}

func (m *Media) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Media) sign(id string, exp int64) string {
	h := hmac.New(sha256.New, m.Secret)
	h.Write([]byte("mj-image." + id + "." + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(h.Sum(nil))
}

// URL is the signed gateway URL of task id's image.
func (m *Media) URL(id string) string {
	ttl := m.TTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	exp := m.now().Add(ttl).Unix()
	return strings.TrimRight(m.Base, "/") + "/mj/image/" + url.PathEscape(id) + "?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + m.sign(id, exp)
}

// Verify checks a signed URL's parameters.
func (m *Media) Verify(id, exp, sig string) bool {
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || m.now().Unix() > e {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(m.sign(id, e)))
}

// rewrite replaces a task object's imageUrl with the signed gateway URL.
func (m *Media) rewrite(obj []byte, id string) []byte {
	if m == nil || gjson.GetBytes(obj, "imageUrl").String() == "" {
		return obj
	}
	if b, err := sjson.SetBytes(obj, "imageUrl", m.URL(id)); err == nil {
		return b
	}
	return obj
}

// encodeMJ renders a task object, with its media proxied when on.
func encodeMJ(m *Media, t *gateway.Task) []byte {
	return m.rewrite(midjourney.EncodeTask(t), t.ID)
}

// mjImage serves GET /mj/image/{id}?exp=&sig=.
func (a *API) mjImage(w http.ResponseWriter, r *http.Request) error {
	m := a.Media
	id := r.PathValue("id")
	q := r.URL.Query()
	if m == nil || !m.Verify(id, q.Get("exp"), q.Get("sig")) {
		return gateway.Errorf(gateway.KindNotFound, "no such image, or its link expired")
	}
	t, err := a.Service.Store.TaskByID(r.Context(), id)
	if errors.Is(err, gateway.ErrNotFound) {
		return gateway.Errorf(gateway.KindNotFound, "no such image, or its link expired")
	}
	if err != nil {
		return err
	}
	src := gjson.GetBytes(t.Result, "imageUrl").String()
	if src == "" {
		return gateway.Errorf(gateway.KindNotFound, "the task has no image")
	}
	mt, b64, err := m.Fetcher.Fetch(r.Context(), src)
	if err != nil {
		return &gateway.Error{Kind: gateway.KindUpstream, Status: http.StatusBadGateway, Message: "the image could not be fetched from the upstream", Err: err}
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, err = w.Write(data)
	return err
}
