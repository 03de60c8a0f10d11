package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/holdrelay/relay/admin"
)

// Admin is the part of the admin server the console needs.
type Admin interface {
	// SignIn names the token whose secret is secret, and its role.
	SignIn(secret string) (name, role string, ok bool)
	// UseConsoleLink spends a one-time sign-in link.
	UseConsoleLink(code string) (name, role string, err error)
	// TokenActive says whether a token named name with role is still in
	// force (--admin-tokens or a runtime token): a session signed in
	// with a token ends when the token is removed or its role changes.
	TokenActive(name, role string) bool
	// As is the admin API as called by console:NAME with role.
	As(name, role string) http.Handler
}

// Options configure a Console.
type Options struct {
	Admin      Admin
	Now        func() time.Time // nil = time.Now
	SessionTTL time.Duration    // 0 = 8 hours
	Log        *slog.Logger     // nil = slog.Default()
}

// Console is the web console's handler.
type Console struct {
	o        Options
	now      func() time.Time
	log      *slog.Logger
	sessions *sessions
	throttle *throttle
	pages    map[string]*template.Template
	handler  http.Handler
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns a Console.
func New(o Options) *Console {
	c := &Console{o: o, now: o.Now, log: o.Log}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.o.SessionTTL == 0 {
		c.o.SessionTTL = 8 * time.Hour
	}
	c.sessions = newSessions(c.now, c.o.SessionTTL)
	c.throttle = newThrottle(c.now, 5, time.Minute)
	c.pages = parsePages()
	c.handler = c.routes()
	return c
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /signin", c.signInPage)
	mux.HandleFunc("POST /signin", c.signIn)
	mux.HandleFunc("GET /signin/{code}", c.signInLinkPage)
	mux.HandleFunc("POST /signin/{code}", c.signInLink)
	mux.HandleFunc("POST /signout", c.signOut)
	mux.Handle("GET /{$}", c.authed(c.queue))
	mux.Handle("GET /messages/{id}", c.authed(c.message))
	mux.Handle("GET /messages/{id}/raw", c.authed(c.raw))
	mux.Handle("GET /messages/{id}/preview", c.authed(c.preview))
	mux.Handle("POST /act", c.authed(c.act))
	mux.Handle("POST /pause", c.authed(c.pause))
	mux.Handle("POST /resume", c.authed(c.resume))
	mux.Handle("GET /audit", c.authed(c.audit))
	mux.Handle("GET /credentials", c.authed(c.credentials))
	mux.Handle("GET /ops", c.authed(c.ops))
	mux.Handle("GET /events", c.authed(c.events))
	mux.Handle("POST /credentials/{name}/rotate", c.authed(c.rotate))
	mux.Handle("POST /brakes/{name}/release", c.authed(c.releaseBrake))
	mux.Handle("POST /batches/{id}/{verb}", c.authed(c.batchChange))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusForbidden, "error", errorPage{Title: "Refused",
			Message: "This request came from another site, so it was refused and nothing changed. Use the console's own pages."})
	}))
	return withNonce(cop.Handler(securityHeaders(mux)))
}

// nonceKey carries the request's CSP nonce to the templates.
type nonceKey struct{}

func withNonce(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 18)
		rand.Read(b)
		nonce := base64.RawURLEncoding.EncodeToString(b)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

func nonceOf(r *http.Request) string { s, _ := r.Context().Value(nonceKey{}).(string); return s }

// pageCSP is every page's policy but the message preview's: scripts and
// styles only with the page's nonce, nothing from elsewhere, no framing
// by other sites.
func pageCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; " +
		"img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// previewCSP is a message preview's policy: no URL loads at all (no
// tracking pixel, font or stylesheet), images only inline, no scripts,
// and the sandbox again should the preview be opened outside its iframe.
const previewCSP = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP(nonceOf(r)))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// client is the admin API as the session's holder.
func (c *Console) client(s session) *admin.Client {
	return admin.NewTransportClient(handlerTransport{c.o.Admin.As(s.name, s.role)})
}
