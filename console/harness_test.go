package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/console"
	"github.com/holdrelay/relay/spool"
)

// Secrets of the tokens every test's relayd knows.
const (
	opsSecret     = "ops-secret-0123456789"
	supportSecret = "support-secret-0123456789"
)

// env is a real admin server (spool file, fake clock) with the console
// served on 127.0.0.1:0 in front of it.
type env struct {
	*servertest.Relay
	URL string
}

func start(t *testing.T) *env {
	t.Helper()
	r := servertest.Start(t, servertest.Options{Tokens: []server.Token{
		{Name: "ops", Secret: opsSecret, Role: server.RoleOperator},
		{Name: "alice", Secret: supportSecret, Role: server.RoleSupport},
	}})
	c := console.New(console.Options{Admin: r.Server, Now: r.Clock.Now})
	ts := httptest.NewServer(c)
	t.Cleanup(ts.Close)
	r.Server.SetConsoleURL(ts.URL)
	return &env{Relay: r, URL: ts.URL}
}

// accept spools a message of credential cred with this body.
func (e *env) accept(t *testing.T, cred, body string) spool.Message {
	t.Helper()
	now := e.Clock.Now()
	m, err := e.Spool.Accept(spool.Incoming{Credential: cred, From: "app@example.com", To: []string{"someone@example.org"},
		Subject: "hello " + cred, Received: now, Release: now.Add(time.Hour)}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// browser is an HTTP client with a cookie jar that follows no redirect,
// so tests see each answer.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signedIn is a browser signed in with secret.
func (e *env) signedIn(t *testing.T, secret string) *browser {
	b := e.browser(t)
	if resp, _ := b.post("/signin", url.Values{"token": {secret}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d, want 303", resp.StatusCode)
	}
	return b
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	return b.read(resp, err)
}

// post sends a form the way the console's own pages do: same origin.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	return b.read(resp, err)
}

func (b *browser) read(resp *http.Response, err error) (*http.Response, string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
