package server_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

func ptr[T any](v T) *T { return &v }

// TestCredentialSettings: add takes every setting, PATCH changes only
// those it names, and GET shows them with the credential's messages.
func TestCredentialSettings(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	cc, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop", Description: "web shop", Hold: ptr("5m"),
		AllowedSenders: []string{"@shop.example", "boss@example.com"}, MaxMessageSize: 1 << 20, RateLimit: 60})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Hold == nil || *cc.Hold != "5m0s" || len(cc.AllowedSenders) != 2 || cc.MaxMessageSize != 1<<20 || cc.RateLimit != 60 {
		t.Errorf("created = %+v", cc)
	}
	stored, _ := r.Creds.Get("shop")
	if stored.RateLimit != 60 || stored.MaxMessageSize != 1<<20 || stored.AllowedSenders[1] != "boss@example.com" {
		t.Errorf("stored = %+v", stored)
	}

	got, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{RateLimit: ptr(0), Hold: ptr(admin.HoldDefault)})
	if err != nil {
		t.Fatal(err)
	}
	if got.RateLimit != 0 || got.Hold != nil || got.Description != "web shop" || len(got.AllowedSenders) != 2 || got.MaxMessageSize != 1<<20 {
		t.Errorf("after PATCH rate_limit and hold: %+v", got)
	}
	got, err = c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{AllowedSenders: &[]string{}})
	if err != nil || got.AllowedSenders == nil || len(got.AllowedSenders) != 0 || got.MaxMessageSize != 1<<20 {
		t.Errorf("after PATCH allowed_senders []: %+v, %v", got, err)
	}

	r.Accept(t, "shop")
	d, err := c.Credential(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "shop" || d.Messages["waiting"] != 1 || len(d.Messages) != len(admin.States) || d.Paused != nil {
		t.Errorf("details = %+v", d)
	}
	// allowed_senders is [] on the wire, never null.
	if _, body := raw(t, r, "GET", "/v1/credentials/shop", ""); !strings.Contains(body, `"allowed_senders": []`) {
		t.Errorf("GET answered:\n%s", body)
	}

	// An audit entry names a few allowed senders and counts the rest.
	seven := []string{"@1.example", "@2.example", "@3.example", "@4.example", "@5.example", "@6.example", "@7.example"}
	if _, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{AllowedSenders: &seven, Reason: "more"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := r.Spool.Audit(0, 10)
	if len(entries) != 4 || entries[0].Detail != "allowed-senders=@1.example,@2.example,@3.example,@4.example,@5.example (+2 more)" ||
		entries[1].Detail != "allowed-senders=any" || entries[2].Detail != "hold=default rate-limit=0" ||
		entries[3].Detail != `description="web shop" hold=5m0s allowed-senders=@shop.example,boss@example.com max-size=1048576 rate-limit=60` {
		t.Errorf("audit = %+v", entries)
	}
}

// TestCredentialRefusals: bad settings are 400s in the caller's terms,
// an unknown credential 404, and neither changes anything or is audited.
func TestCredentialRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop", RateLimit: 5}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "@d.example"
	}
	tests := []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"add, bad sender", func() error {
			_, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "x", AllowedSenders: []string{"nobody"}})
			return err
		}, 400, `allowed sender "nobody": want an address or @domain`},
		{"add, negative size", func() error {
			_, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "x", MaxMessageSize: -1})
			return err
		}, 400, "max_message_size -1: must not be negative"},
		{"add, negative rate", func() error {
			_, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "x", RateLimit: -1})
			return err
		}, 400, "rate_limit -1: must not be negative"},
		{"add, too many senders", func() error {
			_, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "x", AllowedSenders: many})
			return err
		}, 400, "101 allowed senders: at most 100"},
		{"set, nothing", func() error {
			_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{Reason: "just because"})
			return err
		}, 400, "nothing to change"},
		{"set, bad hold", func() error {
			_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{Hold: ptr("soon")})
			return err
		}, 400, `hold "soon"`},
		{"set, negative hold", func() error {
			_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{Hold: ptr("-1s")})
			return err
		}, 400, "must not be negative"},
		{"set, bad sender", func() error {
			_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{AllowedSenders: &[]string{"a@b.example", "x@"}})
			return err
		}, 400, `allowed sender "x@"`},
		{"set, description with a line break", func() error {
			_, err := c.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{Description: ptr("a\nb")})
			return err
		}, 400, "description"},
		{"set, unknown", func() error {
			_, err := c.UpdateCredential(ctx, "nobody", admin.UpdateCredentialRequest{RateLimit: ptr(1)})
			return err
		}, 404, `no credential "nobody"`},
		{"show, unknown", func() error { _, err := c.Credential(ctx, "nobody"); return err }, 404, `no credential "nobody"`},
		{"disable, unknown", func() error {
			_, err := c.DisableCredential(ctx, "nobody", admin.CredentialChangeRequest{})
			return err
		}, 404, `no credential "nobody"`},
		{"enable, unknown", func() error {
			_, err := c.EnableCredential(ctx, "nobody", admin.EnableCredentialRequest{Release: true})
			return err
		}, 404, `no credential "nobody"`},
		{"rm, unknown", func() error {
			_, err := c.RemoveCredential(ctx, "nobody", admin.CredentialChangeRequest{})
			return err
		}, 404, `no credential "nobody"`},
		{"rotate, unknown", func() error { _, err := c.RotatePassword(ctx, "nobody", admin.RotateRequest{}); return err }, 404, `no credential "nobody"`},
		{"rotate, bad grace", func() error {
			_, err := c.RotatePassword(ctx, "shop", admin.RotateRequest{Grace: "-1h"})
			return err
		}, 400, `grace "-1h"`},
		{"disable, long reason", func() error {
			_, err := c.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: strings.Repeat("x", 300)})
			return err
		}, 400, "reason longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ae := apiError(t, tt.call(), tt.status, map[int]string{400: admin.CodeInvalid, 404: admin.CodeNotFound}[tt.status])
			if !strings.Contains(ae.Message, tt.msg) || strings.Contains(ae.Message, "auth:") {
				t.Errorf("message = %q, want it to say %q in the caller's terms", ae.Message, tt.msg)
			}
		})
	}
	if cr, _ := r.Creds.Get("shop"); cr.RateLimit != 5 || cr.Disabled || cr.Hold != nil || r.Creds.Len() != 1 {
		t.Errorf("refusals changed something: %+v, %d credentials", cr, r.Creds.Len())
	}
	entries, _ := r.Spool.Audit(0, 10)
	if len(entries) != 1 || entries[0].Action != "credential add" {
		t.Errorf("audit = %+v, want only the add", entries)
	}
}

// TestCredentialBodies: the bodies of disable, enable, rotate and DELETE
// may be left out; unknown fields are refused.
func TestCredentialBodies(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/credentials/shop/disable", "", 200},
		{"POST", "/v1/credentials/shop/enable", " \n", 200},
		{"POST", "/v1/credentials/shop/rotate", "", 200},
		{"POST", "/v1/credentials/shop/rotate", `{"grace":"1h","reason":"r"}`, 200},
		{"POST", "/v1/credentials/shop/disable", `{"reasn":"typo"}`, 400},
		{"POST", "/v1/credentials/shop/enable", `{"release":"yes"}`, 400},
		{"PATCH", "/v1/credentials/shop", `{"rate_limit":1,"colour":"red"}`, 400},
		{"PATCH", "/v1/credentials/shop", ``, 400},
		{"PUT", "/v1/credentials/shop", `{}`, 405},
		{"GET", "/v1/credentials/shop/disable", ``, 405},
		{"DELETE", "/v1/credentials/shop", "", 200},
		{"DELETE", "/v1/credentials/shop", "", 404},
	}
	for _, tt := range tests {
		resp, body := raw(t, r, tt.method, tt.path, tt.body)
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s %q: %d %s, want %d", tt.method, tt.path, tt.body, resp.StatusCode, body, tt.status)
		}
	}
	if resp, _ := raw(t, r, "PUT", "/v1/credentials/shop", `{}`); resp.Header.Get("Allow") != "DELETE, GET, PATCH" {
		t.Errorf("405 Allow = %q", resp.Header.Get("Allow"))
	}
}

// TestCredentialRoles: support staff may list and show credentials but
// change none; refusals are not audited.
func TestCredentialRoles(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	sup := client(t, "http://"+r.TCP, supportSecret)
	ctx := t.Context()
	if list, err := sup.Credentials(ctx); err != nil || len(list) != 1 {
		t.Errorf("support list: %v, %v", list, err)
	}
	if d, err := sup.Credential(ctx, "shop"); err != nil || d.Name != "shop" {
		t.Errorf("support show: %+v, %v", d, err)
	}
	refused := map[string]func() error{
		"set": func() error {
			_, err := sup.UpdateCredential(ctx, "shop", admin.UpdateCredentialRequest{RateLimit: ptr(1)})
			return err
		},
		"disable": func() error {
			_, err := sup.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{})
			return err
		},
		"enable": func() error { _, err := sup.EnableCredential(ctx, "shop", admin.EnableCredentialRequest{}); return err },
		"rm":     func() error { _, err := sup.RemoveCredential(ctx, "shop", admin.CredentialChangeRequest{}); return err },
		"rotate": func() error { _, err := sup.RotatePassword(ctx, "shop", admin.RotateRequest{}); return err },
	}
	for name, call := range refused {
		if ae := apiError(t, call(), 403, admin.CodeForbidden); !strings.Contains(ae.Message, "needs the operator role") {
			t.Errorf("%s: %q", name, ae.Message)
		}
	}
	if c, _ := r.Creds.Get("shop"); c.Disabled || c.RateLimit != 0 || !c.PasswordChanged.Equal(servertest.Now) {
		t.Errorf("support changed the credential: %+v", c)
	}
	if entries, _ := r.Spool.Audit(0, 10); len(entries) != 0 {
		t.Errorf("refused changes were audited: %+v", entries)
	}

	ops := client(t, "http://"+r.TCP, operatorSecret)
	if _, err := ops.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: "r"}); err != nil {
		t.Errorf("operator disable: %v", err)
	}
	entries, _ := r.Spool.Audit(0, 10)
	if len(entries) != 1 || entries[0].Action != "credential disable" || entries[0].Actor != "token:ops" || entries[0].Reason != "r" {
		t.Errorf("audit = %+v", entries)
	}
}

// TestConcurrentSets: operators changing different settings of one
// credential at once all get their change; none overwrites another's with
// the value it read before.
func TestConcurrentSets(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	if _, err := c.AddCredential(t.Context(), admin.AddCredentialRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		n := strconv.Itoa(i)
		changes := []admin.UpdateCredentialRequest{
			{RateLimit: ptr(i)},
			{MaxMessageSize: ptr(int64(i))},
			{Description: ptr(n)},
			{Hold: ptr(n + "s")},
			{AllowedSenders: &[]string{n + "@example.com"}},
		}
		var wg sync.WaitGroup
		for _, req := range changes {
			wg.Go(func() {
				if _, err := c.UpdateCredential(t.Context(), "shop", req); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := r.Creds.Get("shop")
		if got.RateLimit != i || got.MaxMessageSize != int64(i) || got.Description != n || got.Hold == nil ||
			*got.Hold != time.Duration(i)*time.Second || len(got.AllowedSenders) != 1 || got.AllowedSenders[0] != n+"@example.com" {
			t.Fatalf("round %d: %+v: a change was lost", i, got)
		}
	}
}

// TestDisableWithoutDispatcher: with nothing in flight, disable holds
// the credential's pending mail, counts what went before, freezes the
// spool for it, and enable thaws it.
func TestDisableWithoutDispatcher(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	waiting := r.Accept(t, "shop")
	other := r.Accept(t, "billing")
	delivered := r.Accept(t, "shop")
	deliver(t, r, delivered.ID)

	res, err := c.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: "spam"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Held != 1 || res.AlreadyDelivered != 1 || res.DeliveredDuring != 0 || res.InFlight != 0 || !res.Credential.Disabled {
		t.Errorf("disable = %+v", res)
	}
	if m, _ := r.Spool.Get(waiting.ID); m.State != spool.Held || m.Reason != "spam" {
		t.Errorf("shop's message: %s, %q", m.State, m.Reason)
	}
	if m, _ := r.Spool.Get(other.ID); m.State != spool.Waiting {
		t.Errorf("billing's message is %s", m.State)
	}
	// Frozen: what arrives now is held, and nothing is claimed.
	late := r.Accept(t, "shop")
	if late.State != spool.Held {
		t.Errorf("a message accepted after disable is %s, want held", late.State)
	}
	// Releasing a disabled credential's mail is refused, not pretended.
	rel, err := c.Release(ctx, admin.ActionRequest{Selector: admin.Selector{IDs: []string{late.ID.String()}}})
	if err != nil || rel.Counts[admin.OutcomeDisabled] != 1 || rel.Counts[admin.OutcomeChanged] != 0 {
		t.Fatalf("release while disabled = %+v, %v", rel, err)
	}
	r.Clock.Advance(time.Minute)
	if claimed, _ := r.Spool.Claim(r.Clock.Now(), 10); len(claimed) != 1 || claimed[0].ID != other.ID {
		t.Errorf("claimed %v while shop is disabled, want only billing's message", claimed)
	}

	en, err := c.EnableCredential(ctx, "shop", admin.EnableCredentialRequest{})
	if err != nil || en.Released != 0 || en.Held != 2 || en.Credential.Disabled {
		t.Errorf("enable = %+v, %v", en, err)
	}
	if _, err := c.Release(ctx, admin.ActionRequest{Selector: admin.Selector{IDs: []string{late.ID.String()}}}); err != nil {
		t.Fatal(err)
	}
	if claimed, _ := r.Spool.Claim(r.Clock.Now(), 10); len(claimed) != 1 || claimed[0].ID != late.ID {
		t.Errorf("claimed %v after enable and release, want the released message", claimed)
	}
}

// deliver claims one message and records it delivered, as the
// dispatcher would.
func deliver(t *testing.T, r *servertest.Relay, id spool.ID) {
	t.Helper()
	if _, err := r.Spool.Flush(spool.Selector{IDs: []spool.ID{id}}, spool.Event{Time: r.Clock.Now(), Actor: "test"}, false); err != nil {
		t.Fatal(err)
	}
	claimed, err := r.Spool.Claim(r.Clock.Now(), 1)
	if err != nil || len(claimed) != 1 || claimed[0].ID != id {
		t.Fatalf("Claim = %v, %v", claimed, err)
	}
	m := claimed[0].Message
	for i := range m.Rcpts {
		m.Rcpts[i].State = spool.RcptDelivered
	}
	if _, err := r.Spool.Finish(id, spool.Attempt{Rcpts: m.Rcpts, State: spool.Delivered, Now: r.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestRotateAnswer: the new password is in the answer and nowhere else:
// not the log, not the audit log.
func TestRotateAnswer(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	res, err := c.RotatePassword(t.Context(), "shop", admin.RotateRequest{Grace: "1h", Reason: "leaked"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Creds.Verify("shop", res.Password); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	if res.GraceUntil == nil || !res.GraceUntil.Equal(servertest.Now.Add(time.Hour)) {
		t.Errorf("grace_until = %v", res.GraceUntil)
	}
	entries, _ := r.Spool.Audit(0, 10)
	if len(entries) != 1 || entries[0].Action != "password-rotate" || entries[0].Selector != "credential=shop" ||
		entries[0].Reason != "leaked" || !strings.Contains(entries[0].Detail, "grace=1h0m0s") {
		t.Errorf("audit = %+v", entries)
	}
	if strings.Contains(r.Log.String(), res.Password) || strings.Contains(jsonOf(t, entries), res.Password) {
		t.Error("the new password is in the log or the audit log")
	}
	if resp, _ := raw(t, r, "POST", "/v1/credentials/shop/rotate", ""); resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a password's answer may be cached: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
