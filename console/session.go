package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

const cookieName = "relay_console"

// session is one signed-in person: the token or link's name and role.
type session struct {
	name, role string
	expires    time.Time
	link       bool // signed in with a one-time link, not a token
}

func (s session) operator() bool { return s.role == "operator" }

// Name and Role are for the templates.
func (s session) Name() string { return s.name }
func (s session) Role() string { return s.role }

// sessions are kept in memory: a restart of relayd signs everyone out,
// which is the safe direction.
// maxSessions bounds the sessions kept at once.
const maxSessions = 10000

type sessions struct {
	mu  sync.Mutex
	now func() time.Time
	ttl time.Duration
	max int // maxSessions; tests lower it
	m   map[string]session
}

func newSessions(now func() time.Time, ttl time.Duration) *sessions {
	return &sessions{now: now, ttl: ttl, max: maxSessions, m: map[string]session{}}
}

func (ss *sessions) create(name, role string, link bool) (string, session) {
	b := make([]byte, 32)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s := session{name: name, role: role, expires: ss.now().Add(ss.ttl), link: link}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	soonest := ""
	for k, old := range ss.m { // forget expired ones as new ones come
		if !ss.now().Before(old.expires) {
			delete(ss.m, k)
		} else if soonest == "" || old.expires.Before(ss.m[soonest].expires) {
			soonest = k
		}
	}
	if len(ss.m) >= ss.max {
		// A token that signs in again and again would grow the map for
		// a whole ttl: the session nearest its end makes room.
		delete(ss.m, soonest)
	}
	ss.m[id] = s
	return id, s
}

func (ss *sessions) get(id string) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if ok && !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return session{}, false
	}
	return s, ok
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

type sessionKey struct{}

func sessionOf(r *http.Request) session { s, _ := r.Context().Value(sessionKey{}).(session); return s }

// authed runs h for a signed-in request and sends the others to sign in.
func (c *Console) authed(h func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		var s session
		ok := err == nil
		if ok {
			s, ok = c.sessions.get(ck.Value)
		}
		if ok && !s.link && !c.o.Admin.TokenActive(s.name, s.role) {
			// The token was removed (token rm, --admin-tokens reloaded)
			// or its role changed: its sessions end with it.
			c.sessions.remove(ck.Value)
			ok = false
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", errorPage{Title: "Signed out",
				Message: "Your session has ended, so nothing was changed. Sign in again."})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

func (c *Console) setSession(w http.ResponseWriter, r *http.Request, name, role string, link bool) {
	// A browser-session cookie: the server alone decides expiry, by its
	// own clock, and forgets the session then.
	if ck, err := r.Cookie(cookieName); err == nil {
		// The session this browser had ends: signing in again (as
		// someone else, say) leaves no older ID alive behind it.
		c.sessions.remove(ck.Value)
	}
	id, _ := c.sessions.create(name, role, link)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	c.log.Info("console sign-in", "actor", "console:"+name, "role", role)
}

// signInPage shows the sign-in form.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", nil)
}

// signIn takes a token from the form.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if wait := c.throttle.take(ip); wait > 0 {
		w.Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		c.render(w, r, http.StatusTooManyRequests, "signin", map[string]string{
			"Error": "Too many failed sign-ins from your address. Wait a minute and try again."})
		return
	}
	name, role, ok := c.o.Admin.SignIn(r.PostFormValue("token"))
	if !ok {
		c.render(w, r, http.StatusUnauthorized, "signin", map[string]string{"Error": "That token is not valid."})
		return
	}
	c.throttle.refund(ip)
	c.setSession(w, r, name, role, false)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signInLinkPage shows a followed link's button and spends nothing: a
// GET (or HEAD) from a mail scanner or a chat's link preview must not
// burn the link, and another site must not sign a browser in with its
// own link (the POST passes the cross-origin protection).
func (c *Console) signInLinkPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "link", r.PathValue("code"))
}

// signInLink spends a one-time link: the POST of its page's button.
func (c *Console) signInLink(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if wait := c.throttle.take(ip); wait > 0 {
		c.render(w, r, http.StatusTooManyRequests, "error", errorPage{Title: "Too many attempts",
			Message: "Too many failed sign-ins from your address. Wait a minute and try again."})
		return
	}
	name, role, err := c.o.Admin.UseConsoleLink(r.PathValue("code"))
	if err != nil {
		c.render(w, r, http.StatusGone, "error", errorPage{Title: "Sign-in link not valid", Message: linkMessage(err)})
		return
	}
	c.throttle.refund(ip)
	c.setSession(w, r, name, role, true)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxThrottled is how many addresses the throttle keeps before it sweeps.
const maxThrottled = 10000

// throttle counts sign-in attempts per address in a fixed window (a
// success is given back, so it counts the failed and the unfinished).
type throttle struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	m      map[string]attempts
}

type attempts struct {
	n     int
	start time.Time
}

func newThrottle(now func() time.Time, max int, window time.Duration) *throttle {
	return &throttle{now: now, max: max, window: window, m: map[string]attempts{}}
}

// take counts an attempt from ip before it is checked and says how long
// ip must wait first (0: go on). Counting before checking is what bounds
// attempts sent at once: checking first let them all pass the check
// before any failure was counted. A success gives its count back.
func (t *throttle) take(ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, now := t.m[ip], t.now()
	if now.Sub(a.start) >= t.window {
		a = attempts{start: now}
	}
	if a.n >= t.max {
		return a.start.Add(t.window).Sub(now)
	}
	a.n++
	t.m[ip] = a
	if len(t.m) > maxThrottled { // many addresses: forget those whose window ended
		for k, v := range t.m {
			if now.Sub(v.start) >= t.window {
				delete(t.m, k)
			}
		}
	}
	return 0
}

// refund gives back the count of ip's attempt that succeeded.
func (t *throttle) refund(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.m[ip]; ok && a.n > 0 {
		a.n--
		t.m[ip] = a
	}
}
