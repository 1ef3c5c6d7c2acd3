package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"iter"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
	"switchboard/internal/relay"
)

//go:embed console/*.html console/*.css console/*.js
var consoleFS embed.FS

// Generator runs a chat through the engine (relay.Engine.Generate).
type Generator interface {
	Generate(ctx context.Context, hc relay.HubCall) iter.Seq2[llm.Event, error]
}

// Sealer seals and opens session cookies (secret.Box): every node with
// the same SWITCHBOARD_SECRET accepts the others' sessions.
type Sealer interface {
	Seal(plaintext []byte, aad string) (string, error)
	Open(s string, aad string) ([]byte, error)
}

// ConsoleTask is one async task as the console's task page lists it.
type ConsoleTask struct {
	ID, Kind, Model, Status, KeyName string
	Created, Updated                 time.Time
	ResultURL                        string // image or video to show; "" none yet
	Error                            string
}

// TaskSource lists tasks for the console, newest first. The task
// subsystem provides it; without one the tasks page says so.
type TaskSource interface {
	ConsoleTasks(ctx context.Context, limit int) ([]ConsoleTask, error)
}

// ConsoleDeps is what the console needs beside the admin API it shares
// its store, validation and change hooks with.
type ConsoleDeps struct {
	Sealer Sealer
	// ViewerTokenHashes are hex SHA-256 hashes of read-only tokens.
	ViewerTokenHashes []string
	SessionTTL        time.Duration // 0: 12h
	Engine            Generator     // playground and channel tests; nil disables both
	Models            func() []string
	Prices            *pricing.Table
	Tasks             TaskSource // nil until the task subsystem exists
}

// Console serves the operator's web console under /console/.
type Console struct {
	api     *API
	d       ConsoleDeps
	viewers [][]byte
	pages   map[string]*template.Template

	mu       sync.Mutex
	revoked  map[string]time.Time // session id → its expiry (logout)
	attempts map[string][]time.Time
}

// Session cookie names and roles.
const (
	sessionCookie = "sb_console"
	loginCookie   = "sb_login" // the login form's CSRF token
	sessionAAD    = "switchboard console session"
	roleAdmin     = "admin"
	roleViewer    = "viewer"

	// Failed logins per address within loginWindow before refusing.
	maxLoginFailures = 5
	loginWindow      = 5 * time.Minute
)

// NewConsole returns the console of api.
func NewConsole(api *API, d ConsoleDeps) (*Console, error) {
	if d.Sealer == nil {
		return nil, errors.New("admin: the console needs a Sealer for its sessions")
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.Models == nil {
		d.Models = func() []string { return nil }
	}
	c := &Console{api: api, d: d, revoked: map[string]time.Time{}, attempts: map[string][]time.Time{}}
	for _, h := range d.ViewerTokenHashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("admin: viewer token hash %q is not a hex SHA-256", h)
		}
		c.viewers = append(c.viewers, b)
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	return c, nil
}

// Register adds the console's routes to mux.
func (c *Console) Register(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		h       http.HandlerFunc
		write   bool // admin role only
	}{
		{"GET /console/{$}", c.dashboard, false},
		{"GET /console/channels", c.channels, false},
		{"GET /console/channels/{id}", c.channelEdit, false},
		{"POST /console/channels/{id}", c.channelSave, true},
		{"POST /console/channels/{id}/enable", c.channelEnabled(true), true},
		{"POST /console/channels/{id}/disable", c.channelEnabled(false), true},
		{"POST /console/channels/{id}/test", c.channelTest, true},
		{"POST /console/channels/{id}/keys/{index}/enable", c.channelKeyEnable, true},
		{"GET /console/keys", c.keys, false},
		{"POST /console/keys", c.keyCreate, true},
		{"POST /console/keys/{id}", c.keySave, true},
		{"POST /console/keys/{id}/enable", c.keyEnabled(true), true},
		{"POST /console/keys/{id}/disable", c.keyEnabled(false), true},
		{"POST /console/keys/{id}/rotate", c.keyRotate, true},
		{"GET /console/usage", c.usage, false},
		{"GET /console/usage.csv", c.usageExport, false},
		{"GET /console/usage/{request}", c.usageDetail, false},
		{"GET /console/prices", c.prices, false},
		{"GET /console/tasks", c.tasks, false},
		{"GET /console/playground", c.playground, false},
		{"POST /console/playground", c.playgroundRun, true},
		{"POST /console/playground/stream", c.playgroundStream, true},
		{"POST /console/logout", c.logout, false},
	}
	for _, r := range routes {
		mux.Handle(r.pattern, c.authed(r.h, r.write))
	}
	mux.HandleFunc("GET /console/login", c.loginForm)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("GET /console/static/{file}", c.static)
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", nil, pageData{Title: "Not found", Error: "There is no console page at " + r.URL.Path + "."})
	})
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}

// session is a logged-in operator, carried sealed in the session cookie.
type session struct {
	ID      string
	Role    string
	CSRF    string
	Expires time.Time
}

func (s session) encode() string {
	return s.ID + "|" + s.Role + "|" + s.CSRF + "|" + strconv.FormatInt(s.Expires.Unix(), 10)
}

func decodeSession(b []byte) (session, bool) {
	parts := strings.Split(string(b), "|")
	if len(parts) != 4 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return session{}, false
	}
	return session{ID: parts[0], Role: parts[1], CSRF: parts[2], Expires: time.Unix(exp, 0)}, true
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type ctxKey struct{}

func sessionOf(r *http.Request) session {
	s, _ := r.Context().Value(ctxKey{}).(session)
	return s
}

// current returns the request's valid session.
func (c *Console) current(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	b, err := c.d.Sealer.Open(ck.Value, sessionAAD)
	if err != nil {
		return session{}, false
	}
	s, ok := decodeSession(b)
	if !ok || !c.api.d.Now().Before(s.Expires) {
		return session{}, false
	}
	c.mu.Lock()
	_, gone := c.revoked[s.ID]
	c.mu.Unlock()
	return s, !gone
}

// authed admits requests with a session; every POST must carry the
// session's CSRF token, and viewers may only read.
func (c *Console) authed(next http.HandlerFunc, write bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		s, ok := c.current(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", nil, pageData{Title: "Signed out", Error: "Your session ended; sign in again."})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
				c.render(w, r, http.StatusForbidden, "error", nil, pageData{Title: "Refused", Error: "The form's security token is missing or stale. Reload the page and try again."})
				return
			}
			if write && s.Role != roleAdmin {
				c.render(w, r, http.StatusForbidden, "error", nil, pageData{Title: "Read-only", Error: "This session is read-only (viewer token)."})
				return
			}
		}
		next(w, r)
	})
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
}

// secure reports whether cookies must be Secure: the console is served
// over TLS, here or at a proxy in front.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited reports whether addr failed to log in too often lately.
func (c *Console) limited(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.api.d.Now()
	kept := c.attempts[addr][:0]
	for _, t := range c.attempts[addr] {
		if now.Sub(t) < loginWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(c.attempts, addr)
	} else {
		c.attempts[addr] = kept
	}
	return len(kept) >= maxLoginFailures
}

func (c *Console) failed(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.attempts) > 10000 {
		// Bound the table under a spray from many addresses: forget the
		// oldest evidence rather than grow.
		clear(c.attempts)
	}
	c.attempts[addr] = append(c.attempts[addr], c.api.d.Now())
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if _, ok := c.current(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	c.setCookie(w, r, loginCookie, tok, 600)
	c.render(w, r, status, "login", nil, pageData{Title: "Sign in", Error: msg, CSRF: tok, Next: safeNext(r.FormValue("next"))})
}

// safeNext keeps post-login redirects inside the console.
func safeNext(n string) string {
	if strings.HasPrefix(n, "/console/") && !strings.HasPrefix(n, "//") && !strings.ContainsAny(n, "\\\r\n") {
		return n
	}
	return "/console/"
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	addr := clientAddr(r)
	if c.limited(addr) {
		c.showLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; wait a few minutes.")
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.showLogin(w, r, http.StatusForbidden, "The sign-in form expired; try again.")
		return
	}
	sum := sha256.Sum256([]byte(r.PostFormValue("token")))
	role := ""
	if c.api.tokenHash != nil && subtle.ConstantTimeCompare(sum[:], c.api.tokenHash) == 1 {
		role = roleAdmin
	}
	for _, v := range c.viewers {
		if subtle.ConstantTimeCompare(sum[:], v) == 1 && role == "" {
			role = roleViewer
		}
	}
	if role == "" {
		c.failed(addr)
		c.api.d.Log.WarnContext(r.Context(), "console: failed sign-in", "addr", addr)
		c.showLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	s := session{ID: randomToken(), Role: role, CSRF: randomToken(), Expires: c.api.d.Now().Add(c.d.SessionTTL)}
	sealed, err := c.d.Sealer.Seal([]byte(s.encode()), sessionAAD)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "error", nil, pageData{Title: "Error", Error: "Could not start a session."})
		return
	}
	c.setCookie(w, r, sessionCookie, sealed, int(c.d.SessionTTL/time.Second))
	c.setCookie(w, r, loginCookie, "", -1)
	c.api.d.Log.InfoContext(r.Context(), "console: signed in", "role", role, "addr", addr)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	c.mu.Lock()
	now := c.api.d.Now()
	for id, exp := range c.revoked {
		if now.After(exp) {
			delete(c.revoked, id)
		}
	}
	c.revoked[s.ID] = s.Expires
	c.mu.Unlock()
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := consoleFS.ReadFile("console/" + name)
	if err != nil || strings.HasSuffix(name, ".html") {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// errText is the message of err an operator may see.
func errText(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	if errors.Is(err, gateway.ErrNotFound) {
		return "not found"
	}
	if errors.Is(err, gateway.ErrConflict) {
		return "that name is taken"
	}
	if ge := gateway.AsError(err); ge != nil && ge.Message != "" {
		return ge.Message
	}
	return "internal error (see the gateway log)"
}
