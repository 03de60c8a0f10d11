package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// Runtime tokens (relayctl token add) live in the spool, hashed; the set
// in force is s.runtime, reloaded after each change, so that a request
// never reads the spool to authenticate.

// ReloadTokens reads the runtime tokens again, for a spool that other
// relayd nodes change too. On failure the tokens in force stay.
func (s *Server) ReloadTokens() error { return s.loadRuntimeTokens() }

// loadRuntimeTokens reads the runtime tokens into s.runtime. Loads take
// turns, each reading and storing whole, so that one that read before a
// change never stores after the load that follows the change.
func (s *Server) loadRuntimeTokens() error {
	s.runtimeMu.Lock()
	defer s.runtimeMu.Unlock()
	set := &tokenSet{}
	if s.o.Spool == nil { // a server without a spool (tests of Serve alone)
		s.runtime.Store(set)
		return nil
	}
	list, err := s.o.Spool.Tokens()
	if err != nil && s.runtime.Load() != nil {
		return err // the tokens in force stay
	}
	for _, t := range list {
		var tok token
		tok.name, tok.role = t.Name, t.Role
		copy(tok.sum[:], t.Sum)
		set.hashed = append(set.hashed, tok)
	}
	s.runtime.Store(set)
	return err
}

// newSecret is 32 random bytes in URL-safe base64: a token's secret or a
// sign-in link's code.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.o.Spool.Tokens()
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	out := make([]admin.TokenInfo, 0, len(list))
	for _, t := range list {
		out = append(out, admin.TokenInfo{Name: t.Name, Role: t.Role, Created: t.Created, CreatedBy: t.CreatedBy})
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) addToken(w http.ResponseWriter, r *http.Request) error {
	var req admin.AddTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkTokenName(req.Name); err != nil {
		return err
	}
	if req.Role != RoleOperator && req.Role != RoleSupport {
		return invalid("role must be %s or %s", RoleOperator, RoleSupport)
	}
	for _, t := range s.tokens.Load().list {
		if t.Name == req.Name {
			return &apiError{status: http.StatusConflict, code: admin.CodeExists,
				msg: fmt.Sprintf("token %q is already one of --admin-tokens", req.Name)}
		}
	}
	secret, now, c := newSecret(), s.now().UTC(), callerOf(r)
	tok := spool.AdminToken{Name: req.Name, Role: req.Role, Sum: spool.HashSecret(secret), Created: now, CreatedBy: c.actor}
	rec := &spool.AuditEntry{Time: now, Actor: c.actor, Action: "token.add", Detail: "name=" + req.Name + " role=" + req.Role}
	if err := s.o.Spool.AddToken(tok, rec); err != nil {
		if errors.Is(err, spool.ErrExists) {
			return &apiError{status: http.StatusConflict, code: admin.CodeExists, msg: fmt.Sprintf("token %q already exists", req.Name)}
		}
		return fmt.Errorf("add token: %w", err)
	}
	if err := s.loadRuntimeTokens(); err != nil {
		return fmt.Errorf("add token: reload: %w", err)
	}
	info := admin.TokenInfo{Name: tok.Name, Role: tok.Role, Created: now, CreatedBy: c.actor}
	s.writeJSON(w, http.StatusCreated, admin.TokenCreated{TokenInfo: info, Secret: secret})
	return nil
}

func (s *Server) removeToken(w http.ResponseWriter, r *http.Request) error {
	name, now, c := r.PathValue("name"), s.now().UTC(), callerOf(r)
	rec := &spool.AuditEntry{Time: now, Actor: c.actor, Action: "token.remove", Detail: "name=" + name}
	if err := s.o.Spool.RemoveToken(name, rec); err != nil {
		return describe(err, "%v", err)
	}
	if err := s.loadRuntimeTokens(); err != nil {
		return fmt.Errorf("remove token: reload: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkTokenName keeps names short and plain: they become audit actors
// ("token:NAME", "console:NAME").
func checkTokenName(name string) error {
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		return invalid("token name %q: want 1 to 64 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}

// addConsoleLink answers POST /v1/console-links: a one-time sign-in link
// to the console, good for admin.ConsoleLinkTTL.
func (s *Server) addConsoleLink(w http.ResponseWriter, r *http.Request) error {
	var req admin.ConsoleLinkRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	l, err := s.NewConsoleLink(callerOf(r).actor, req.Role)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, l)
	return nil
}

// SetConsoleURL tells the server where the web console listens, for the
// links it makes; until then it refuses to make any (the console is off).
// relayd calls it once the console's listener is open.
func (s *Server) SetConsoleURL(u string) { s.consoleURL.Store(&u) }

// NewConsoleLink makes a one-time sign-in link for role ("" = operator),
// audited as made by actor. relayd's first start calls it too.
func (s *Server) NewConsoleLink(actor, role string) (admin.ConsoleLink, error) {
	if role == "" {
		role = RoleOperator
	}
	if role != RoleOperator && role != RoleSupport {
		return admin.ConsoleLink{}, invalid("role must be %s or %s", RoleOperator, RoleSupport)
	}
	base := s.consoleURL.Load()
	if base == nil {
		// Not found: there is no console to link to.
		return admin.ConsoleLink{}, notFound("the web console is off (--console-listen off)")
	}
	code, now := newSecret(), s.now().UTC()
	sum := spool.HashSecret(code)
	name := "link-" + hex.EncodeToString(sum[:3])
	l := spool.SignInLink{Name: name, Role: role, Expires: now.Add(admin.ConsoleLinkTTL), Created: now, CreatedBy: actor}
	rec := &spool.AuditEntry{Time: now, Actor: actor, Action: "console.link", Detail: "name=" + name + " role=" + role}
	if err := s.o.Spool.AddSignInLink(sum, l, rec); err != nil {
		return admin.ConsoleLink{}, fmt.Errorf("console link: %w", err)
	}
	return admin.ConsoleLink{URL: strings.TrimSuffix(*base, "/") + "/signin/" + code,
		Name: name, Role: role, Expires: l.Expires}, nil
}

// SignIn returns the name and role of the token whose secret is secret:
// one of --admin-tokens or a runtime token. The console signs in with it.
func (s *Server) SignIn(secret string) (name, role string, ok bool) {
	t, ok := s.match(secret)
	if ok {
		// Audited as a link's sign-in is, so the log says who opened a
		// console session, not only what it then did. An entry that
		// cannot be written (a full disk) does not lock operators out of
		// the console in the middle of that incident.
		rec := spool.AuditEntry{Time: s.now().UTC(), Actor: "console:" + t.name, Action: "console.signin", Detail: "token, role " + t.role}
		if _, err := s.o.Spool.AddAudit(rec); err != nil {
			s.log.Warn("console sign-in not audited", "actor", rec.Actor, "err", err)
		}
	}
	return t.name, t.role, ok
}

// TokenActive says whether a token named name with role is in force:
// one of --admin-tokens or a runtime token. The console asks on every
// request, so that removing a token (or changing its role) ends the
// console sessions signed in with it.
func (s *Server) TokenActive(name, role string) bool {
	for _, set := range []*tokenSet{s.tokens.Load(), s.runtime.Load()} {
		for _, t := range set.hashed {
			if t.name == name && t.role == role {
				return true
			}
		}
	}
	return false
}

// UseConsoleLink spends the sign-in link whose code is code and returns
// the session's name and role. A used, expired or unknown link is an
// error that says which, and changes nothing.
func (s *Server) UseConsoleLink(code string) (name, role string, err error) {
	now := s.now().UTC()
	rec := &spool.AuditEntry{Time: now, Actor: "console", Action: "console.signin"}
	l, err := s.o.Spool.UseSignInLink(spool.HashSecret(code), now, rec)
	if err != nil {
		return "", "", err
	}
	return l.Name, l.Role, nil
}

// As returns the API's routes as called by console:NAME with role,
// already authenticated: the console calls it in-process, so its
// actions go through the same handlers, role checks and audit.
func (s *Server) As(name, role string) http.Handler {
	c := caller{actor: "console:" + name, role: role}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		s.routesHandler.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
		s.logRequest(r, c, rec.status)
	})
}
