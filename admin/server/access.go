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

func hashTokens(ts []Token) []token {
	out := make([]token, 0, len(ts))
	for _, t := range ts {
		out = append(out, token{name: t.Name, role: t.Role, sum: sha256.Sum256([]byte(t.Secret))})
	}
	return out
}

// checkTokens says why tokens cannot guard a TCP listener, if they cannot.
func checkTokens(ts []Token) error {
	if len(ts) == 0 {
		return errors.New("no admin token configured: a TCP admin API requires one (or listen on a unix: socket)")
	}
	secrets := make(map[string]bool, len(ts))
	for _, t := range ts {
		switch {
		case t.Name == "":
			return errors.New("an admin token has no name")
		case t.Role != RoleOperator && t.Role != RoleSupport:
			return fmt.Errorf("admin token %s: role %q, want %s or %s", t.Name, t.Role, RoleOperator, RoleSupport)
		case len(t.Secret) < minSecret:
			return fmt.Errorf("admin token %s: secret shorter than %d characters", t.Name, minSecret)
		case secrets[t.Secret]:
			return fmt.Errorf("admin token %s: same secret as another token", t.Name)
		}
		secrets[t.Secret] = true
	}
	return nil
}

// match returns the token whose secret is secret. It compares with every
// token, without stopping early, so time does not tell which one matched.
func (s *Server) match(secret string) (token, bool) {
	sum := sha256.Sum256([]byte(secret))
	var found token
	ok := 0
	for _, t := range s.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		if eq == 1 && ok == 0 {
			found = t
		}
		ok |= eq
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
