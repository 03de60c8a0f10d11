package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// A token made at run time works on TCP at once, is stored hashed, is
// audited, and stops working once removed; only an operator makes one.
func TestRuntimeTokens(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	ops := client(t, r.TCP, operatorSecret)
	_, err := client(t, r.TCP, supportSecret).AddToken(t.Context(), admin.AddTokenRequest{Name: "eve", Role: "operator"})
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)

	tc, err := ops.AddToken(t.Context(), admin.AddTokenRequest{Name: "alice", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Secret) < 40 || tc.Role != "support" {
		t.Fatalf("created %+v", tc)
	}
	alice := client(t, r.TCP, tc.Secret)
	if _, err := alice.Status(t.Context()); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	_, err = alice.Flush(t.Context(), admin.ActionRequest{Selector: admin.Selector{All: true}})
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)
	stored, _ := r.Spool.Tokens()
	if len(stored) != 1 || strings.Contains(string(stored[0].Sum), tc.Secret) || string(stored[0].Sum) != string(spool.HashSecret(tc.Secret)) {
		t.Errorf("stored %+v: want the secret's hash only", stored)
	}
	_, err = ops.AddToken(t.Context(), admin.AddTokenRequest{Name: "alice", Role: "support"})
	apiError(t, err, http.StatusConflict, admin.CodeExists)
	_, err = ops.AddToken(t.Context(), admin.AddTokenRequest{Name: "ops", Role: "support"})
	apiError(t, err, http.StatusConflict, admin.CodeExists)
	_, err = ops.AddToken(t.Context(), admin.AddTokenRequest{Name: "bad name", Role: "support"})
	apiError(t, err, http.StatusBadRequest, admin.CodeInvalid)

	list, err := ops.Tokens(t.Context())
	if err != nil || len(list) != 1 || list[0].Name != "alice" || list[0].CreatedBy != "token:ops" {
		t.Fatalf("ls: %+v %v", list, err)
	}
	if err := ops.RemoveToken(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = alice.Status(t.Context())
	apiError(t, err, http.StatusUnauthorized, admin.CodeUnauthorized)
	err = ops.RemoveToken(t.Context(), "alice")
	apiError(t, err, http.StatusNotFound, admin.CodeNotFound)

	audit, _ := r.Spool.Audit(0, 10)
	if len(audit) != 2 || audit[0].Action != "token.remove" || audit[1].Action != "token.add" || audit[1].Detail != "name=alice role=support" {
		t.Errorf("audit %+v", audit)
	}
	for _, e := range audit {
		if strings.Contains(e.Detail, tc.Secret) {
			t.Error("the audit holds the secret")
		}
	}
	var events []string
	err = ops.Events(t.Context(), admin.EventsRequest{Types: []string{"token.*"}}, func(e admin.OutboxEvent) error {
		events = append(events, e.Type+" "+string(e.Data))
		return nil
	})
	want := []string{`token.added {"token":"alice","role":"support","actor":"token:ops"}`, `token.removed {"token":"alice","actor":"token:ops"}`}
	if err != nil || strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events %q %v, want %q", events, err, want)
	}
}

// A console link needs the console on, is the operator's to make, and
// is spent once.
func TestConsoleLinks(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	ops := client(t, r.TCP, operatorSecret)
	_, err := ops.ConsoleLink(t.Context(), admin.ConsoleLinkRequest{})
	apiError(t, err, http.StatusNotFound, admin.CodeNotFound)
	r.Server.SetConsoleURL("http://127.0.0.1:8025")
	_, err = client(t, r.TCP, supportSecret).ConsoleLink(t.Context(), admin.ConsoleLinkRequest{Role: "operator"})
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)
	_, err = ops.ConsoleLink(t.Context(), admin.ConsoleLinkRequest{Role: "boss"})
	apiError(t, err, http.StatusBadRequest, admin.CodeInvalid)

	l, err := ops.ConsoleLink(t.Context(), admin.ConsoleLinkRequest{Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	code, ok := strings.CutPrefix(l.URL, "http://127.0.0.1:8025/signin/")
	if !ok || l.Role != "support" || !l.Expires.Equal(servertest.Now.Add(15*time.Minute)) {
		t.Fatalf("link %+v", l)
	}
	name, role, err := r.Server.UseConsoleLink(code)
	if err != nil || name != l.Name || role != "support" {
		t.Fatalf("use: %q %q %v", name, role, err)
	}
	if _, _, err := r.Server.UseConsoleLink(code); err != spool.ErrLinkUsed {
		t.Errorf("second use: %v, want ErrLinkUsed", err)
	}
	audit, _ := r.Spool.Audit(0, 10)
	if len(audit) != 2 || audit[0].Action != "console.signin" || audit[0].Actor != "console:"+l.Name || audit[1].Action != "console.link" || audit[1].Actor != "token:ops" {
		t.Errorf("audit %+v", audit)
	}
}

// A console sign-in with a token is audited as a link's is; a wrong
// token signs in nobody and writes nothing.
func TestTokenSignInIsAudited(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	if _, _, ok := r.Server.SignIn("not-a-token-at-all-0123456789"); ok {
		t.Fatal("a wrong token signed in")
	}
	if audit, _ := r.Spool.Audit(0, 10); len(audit) != 0 {
		t.Fatalf("a refused sign-in was audited: %+v", audit)
	}
	name, role, ok := r.Server.SignIn(operatorSecret)
	if !ok || role != "operator" {
		t.Fatalf("sign-in with the operator's token: %q %q %v", name, role, ok)
	}
	audit, err := r.Spool.Audit(0, 1)
	if err != nil || len(audit) != 1 || audit[0].Action != "console.signin" || audit[0].Actor != "console:"+name ||
		strings.Contains(audit[0].Detail, operatorSecret) {
		t.Fatalf("audit after a token sign-in: %+v %v", audit, err)
	}
}
