package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// TestCredentialUpstream: a credential's upstream URLs are checked as
// --upstream is, stored whole, and shown (answers, status, audit, log)
// only with the password hidden; "default" takes them away.
func TestCredentialUpstream(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	const secret = "s3cr3t-pw"
	own := "smtps://news:" + secret + "@smtp.provider.example"
	cc, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "news", Upstream: own})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Upstream != "smtps://news:xxxxx@smtp.provider.example" || cc.UpstreamFallback != "" {
		t.Errorf("created: upstream %q, fallback %q", cc.Upstream, cc.UpstreamFallback)
	}
	if stored, _ := r.Creds.Get("news"); stored.Upstream != own {
		t.Errorf("stored upstream %q, want the URL as given", stored.Upstream)
	}
	got, err := c.UpdateCredential(ctx, "news", admin.UpdateCredentialRequest{UpstreamFallback: ptr("smtp://backup.example:2525")})
	if err != nil || got.UpstreamFallback != "smtp://backup.example:2525" || got.Upstream == "" {
		t.Fatalf("set fallback: %+v, %v", got, err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Routes) != 1 || st.Routes[0] != (admin.Route{Credential: "news",
		Upstream: "smtps://news:xxxxx@smtp.provider.example", UpstreamFallback: "smtp://backup.example:2525"}) {
		t.Errorf("status routes %+v", st.Routes)
	}
	got, err = c.UpdateCredential(ctx, "news", admin.UpdateCredentialRequest{Upstream: ptr(admin.UpstreamDefault)})
	if err != nil || got.Upstream != "" || got.UpstreamFallback == "" {
		t.Fatalf("upstream default: %+v, %v", got, err)
	}
	entries, _ := r.Spool.Audit(0, 10)
	if len(entries) != 3 || entries[0].Detail != "upstream=default" ||
		entries[1].Detail != "upstream-fallback=smtp://backup.example:2525" ||
		entries[2].Detail != "upstream=smtps://news:xxxxx@smtp.provider.example" {
		t.Errorf("audit = %+v", entries)
	}
	_, body := raw(t, r, "GET", "/v1/events", "")
	if !strings.Contains(body, `"credential.added"`) {
		t.Errorf("the events do not tell the change:\n%s", body)
	}
	for where, text := range map[string]string{"log": r.Log.String(), "events": body} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s shows the upstream's password", where)
		}
	}
}

// TestCredentialUpstreamRefusals: a URL relayd would refuse as --upstream
// is a 400 with the same words, which do not repeat the URL.
func TestCredentialUpstreamRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{"mx.example.com", "upstream URL: missing scheme"},
		{"http://mx.example.com", `upstream URL: unknown scheme "http"`},
		{"smtp://u:pw-secret@mx.example.com:99999", `upstream URL: bad port "99999"`},
		{"smtp://u:pw-secret@mx.example.com?tls=maybe", `bad tls="maybe"`},
		{"smtp://user-only@mx.example.com", "credentials need both a user and a password"},
		{"smtp://", "needs a host"},
		{"smtp://a b", "invalid character"},
	} {
		_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{Upstream: ptr(tc.url)})
		var apiErr *admin.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != admin.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("upstream %q: %v, want 400 saying %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("upstream %q: the error repeats the password: %v", tc.url, err)
		}
	}
	if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "bad", UpstreamFallback: "ftp://x"}); err == nil ||
		!strings.Contains(err.Error(), "upstream fallback URL: unknown scheme") {
		t.Errorf("add with a bad fallback: %v", err)
	}
	if _, ok := r.Creds.Get("bad"); ok {
		t.Error("a credential with a bad fallback was created")
	}
	if entries, _ := r.Spool.Audit(0, 10); len(entries) != 1 {
		t.Errorf("%d audit entries, want only the add of shop", len(entries))
	}
}
