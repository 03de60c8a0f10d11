package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
)

func TestCheckTokens(t *testing.T) {
	const secret = "SECRET-0123456789"
	good := server.Token{Name: "ops", Role: server.RoleOperator, Secret: secret}
	for _, tc := range []struct {
		name string
		ts   []server.Token
		tcp  bool
		want string // "" = valid
	}{
		{"one good", []server.Token{good}, true, ""},
		{"none on the socket", nil, false, ""},
		{"none on TCP", nil, true, "no admin token configured"},
		{"no name", []server.Token{good, {Role: server.RoleSupport, Secret: secret + "x"}}, false, "entry 2: the token has no name"},
		{"bad role", []server.Token{{Name: "a", Role: "boss", Secret: secret}}, false, "entry 1: role must be operator or support"},
		{"short secret", []server.Token{{Name: "a", Role: server.RoleSupport, Secret: "SECRET-short"}}, false, "entry 1: secret shorter than 16"},
		{"shared secret", []server.Token{good, {Name: "b", Role: server.RoleSupport, Secret: secret}}, true, "entry 2: same secret as entry 1"},
	} {
		err := server.CheckTokens(tc.ts, tc.tcp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "SECRET"):
			t.Errorf("%s: the error shows a secret: %v", tc.name, err)
		}
	}
}

// SetTokens swaps the whole set for the next request, and refuses a set
// that breaks the rule, or leaves a TCP listener with none, keeping the
// old one.
func TestSetTokens(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	newer := server.Token{Name: "newer", Role: server.RoleSupport, Secret: "newer-secret-0123456789"}
	if err := r.Server.SetTokens([]server.Token{newer}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, r.TCP, newer.Secret).Status(t.Context()); err != nil {
		t.Errorf("the new token: %v", err)
	}
	_, err := client(t, r.TCP, operatorSecret).Status(t.Context())
	apiError(t, err, http.StatusUnauthorized, admin.CodeUnauthorized)

	for _, bad := range [][]server.Token{nil, {{Name: "x", Role: server.RoleOperator, Secret: "short"}}} {
		if err := r.Server.SetTokens(bad); err == nil {
			t.Errorf("SetTokens(%d tokens, one bad or none on TCP) = nil", len(bad))
		}
		if _, err := client(t, r.TCP, newer.Secret).Status(t.Context()); err != nil {
			t.Errorf("the token in force after a refused SetTokens: %v", err)
		}
	}
}
