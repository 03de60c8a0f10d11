package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/holdrelay/relay/admin"
)

// token is a Token with its secret hashed, so that comparing two secrets
// takes the same time whatever their lengths.
type token struct {
	name, role string
	sum        [sha256.Size]byte
}

// tokenSet is the tokens in force: swapped whole by SetTokens, so that a
// request sees either the old set or the new one, never a mix.
type tokenSet struct {
	list   []Token // as given, for Serve's check
	hashed []token
}

func newTokenSet(ts []Token) *tokenSet {
	set := &tokenSet{list: append([]Token(nil), ts...), hashed: make([]token, 0, len(ts))}
	for _, t := range ts {
		set.hashed = append(set.hashed, token{name: t.Name, role: t.Role, sum: sha256.Sum256([]byte(t.Secret))})
	}
	return set
}

// CheckTokens says why ts cannot be the admin API's tokens, if they
// cannot: the one rule for tokens, whether relayd reads them from its
// settings at start or at a reload, or Serve opens a TCP listener. Each
// token needs a name, a role (RoleOperator or RoleSupport) and a secret
// of at least 16 characters not shared with another token; tcp asks for
// at least one token as well (guarantee 6). Errors name a token by its
// position ("entry 2"), never by its secret, since they go to logs.
func CheckTokens(ts []Token, tcp bool) error {
	if tcp && len(ts) == 0 {
		return errors.New("no admin token configured: a TCP admin API requires one (or listen on a unix: socket)")
	}
	for i, t := range ts {
		if err := checkToken(t); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		for j, prev := range ts[:i] {
			if prev.Secret == t.Secret {
				return fmt.Errorf("entry %d: same secret as entry %d", i+1, j+1)
			}
		}
	}
	return nil
}

func checkToken(t Token) error {
	switch {
	case t.Name == "":
		return errors.New("the token has no name")
	case t.Role != RoleOperator && t.Role != RoleSupport:
		return fmt.Errorf("role must be %s or %s", RoleOperator, RoleSupport)
	case len(t.Secret) < minSecret:
		return fmt.Errorf("secret shorter than %d characters", minSecret)
	}
	return nil
}

// SetTokens replaces the tokens in force, for requests that arrive from
// now on (relayd's reload). Tokens that break the rule of CheckTokens,
// or none at all while the server serves a TCP listener, are refused and
// the old ones kept.
func (s *Server) SetTokens(ts []Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := CheckTokens(ts, s.servesTCP); err != nil {
		return err
	}
	s.tokens.Store(newTokenSet(ts))
	return nil
}

// match returns the token whose secret is secret. It compares with every
// token, without stopping early, so time does not tell which one matched.
func (s *Server) match(secret string) (token, bool) {
	sum := sha256.Sum256([]byte(secret))
	var found token
	ok := 0
	for _, set := range []*tokenSet{s.tokens.Load(), s.runtime.Load()} {
		for _, t := range set.hashed {
			eq := subtle.ConstantTimeCompare(sum[:], t.sum[:])
			if eq == 1 && ok == 0 {
				found = t
			}
			ok |= eq
		}
	}
	return found, ok == 1
}

// peer is what the server knows of a connection, from its listener.
type peer struct {
	tcp bool
	uid int // unix socket peer's uid; -1 when unknown
}

type peerKey struct{}

func withPeer(ctx context.Context, c net.Conn, tcp bool) context.Context {
	p := peer{tcp: tcp, uid: -1}
	if !tcp {
		p.uid = peerUID(c)
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// caller is who made a request, once authenticated.
type caller struct {
	actor string // for logs: "uid:1000" or "token:NAME"
	role  string
}

type callerKey struct{}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// identify authenticates r. A request without peer information did not
// come through Serve; it is treated as TCP, the stricter case.
func (s *Server) identify(r *http.Request) (caller, error) {
	p, ok := r.Context().Value(peerKey{}).(peer)
	if !ok {
		p = peer{tcp: true, uid: -1}
	}
	if !p.tcp {
		return s.identifyUnix(p.uid)
	}
	secret, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return caller{actor: "anonymous"}, &apiError{status: http.StatusUnauthorized, code: admin.CodeUnauthorized,
			msg: "this admin API needs a token: pass --token or set RELAY_TOKEN"}
	}
	t, ok := s.match(secret)
	if !ok {
		return caller{actor: "anonymous"}, &apiError{status: http.StatusUnauthorized, code: admin.CodeUnauthorized,
			msg: "the token is not valid"}
	}
	return caller{actor: "token:" + t.name, role: t.role}, nil
}

// identifyUnix serves relayd's own user and root, the ones mode 0600
// admits; the check matters only if the mode was changed or in the moment
// before Listen set it.
func (s *Server) identifyUnix(uid int) (caller, error) {
	if uid < 0 {
		return caller{actor: "unix", role: RoleOperator}, nil
	}
	c := caller{actor: "uid:" + strconv.Itoa(uid), role: RoleOperator}
	if uid != 0 && uid != os.Geteuid() {
		return c, &apiError{status: http.StatusForbidden, code: admin.CodeForbidden,
			msg: fmt.Sprintf("uid %d may not use relayd's admin socket: run relayctl as the user that runs relayd", uid)}
	}
	return c, nil
}

// bearer extracts the secret of an "Authorization: Bearer <secret>" header.
func bearer(h string) (string, bool) {
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

// authenticate identifies the caller of every request, logs the request
// once it is answered, and refuses it if the caller is unknown.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		c, err := s.identify(r)
		if err != nil {
			s.writeError(rec, r, err)
		} else {
			next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
		}
		s.logRequest(r, c, rec.status)
	})
}
