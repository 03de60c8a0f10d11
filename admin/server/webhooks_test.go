package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/webhook"
)

// TestEventTypesMatchWebhook: relayctl checks types and formats against
// package admin's copy; it must be the webhook package's list.
func TestEventTypesMatchWebhook(t *testing.T) {
	if !slices.Equal(admin.EventTypes, webhook.Types) {
		t.Errorf("admin.EventTypes = %v\nwebhook.Types = %v", admin.EventTypes, webhook.Types)
	}
	if admin.FormatStandard != webhook.FormatStandard || admin.FormatSendGrid != webhook.FormatSendGrid {
		t.Error("admin's formats differ from webhook's")
	}
	for _, f := range []string{"*", "message.*", "credential.added", "nope.*", "message.acc*", "message.nope", ""} {
		ep := webhook.Endpoint{Name: "x", URL: "http://h", Secret: []byte{1}, Events: []string{f}}
		if got, want := admin.CheckEventFilter(f) == nil, ep.Validate() == nil; got != want {
			t.Errorf("CheckEventFilter(%q) accepts: %v; webhook accepts: %v", f, got, want)
		}
	}
}

// startWithSenders starts a server whose webhooks a real webhook.Manager
// delivers, woken by the spool as relayd's is. It returns the manager too.
func startWithSenders(t *testing.T) (*servertest.Relay, *webhook.Manager) {
	var m *webhook.Manager
	r := servertest.Start(t, servertest.Options{Tokens: tokens, Webhooks: func(p servertest.Parts) server.Webhooks {
		ob := relay.Outbox{Spool: p.Spool}
		m = webhook.NewManager(webhook.Config{Outbox: ob, Clock: p.Clock, Log: p.Log})
		ctx, stop := context.WithCancel(context.Background())
		var running sync.WaitGroup
		running.Go(func() { m.Run(ctx) })
		running.Go(func() { ob.Watch(ctx, m.Notify) })
		t.Cleanup(func() { stop(); running.Wait() })
		return m
	}})
	return r, m
}

// delivery is one POST a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP endpoint on 127.0.0.1 that records each POST.
func receiver(t *testing.T) (string, <-chan delivery) {
	got := make(chan delivery, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook", got
}

func next(t *testing.T, got <-chan delivery) delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver got nothing in 10s")
		return delivery{}
	}
}

// verify checks a standard-format signature with the whsec_ secret.
func verify(t *testing.T, secret string, d delivery) {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.header.Get("webhook-id") + "." + d.header.Get("webhook-timestamp") + "."))
	mac.Write(d.body)
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); d.header.Get("webhook-signature") != want {
		t.Errorf("signature %q, want %q", d.header.Get("webhook-signature"), want)
	}
}

// TestWebhookLifecycle: a webhook added through the API starts receiving
// at once, signed with the secret shown once; the secret appears in no
// later read nor in the audit log; removing it stops its sender.
func TestWebhookLifecycle(t *testing.T) {
	r, m := startWithSenders(t)
	ops, help := client(t, r.TCP, operatorSecret), client(t, r.TCP, supportSecret)
	url, got := receiver(t)
	ctx := t.Context()

	res, err := ops.AddWebhook(ctx, admin.AddWebhookRequest{Name: "crm", URL: url, Events: []string{"credential.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Secret, "whsec_") || res.PublicKey != "" || res.Format != "standard" || res.CreatedBy != "token:ops" {
		t.Fatalf("created: %+v", res)
	}
	if _, err := ops.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	d := next(t, got)
	verify(t, res.Secret, d)
	var evs []map[string]any
	if err := json.Unmarshal(d.body, &evs); err != nil || len(evs) != 1 || evs[0]["type"] != "credential.added" {
		t.Fatalf("body %s (%v)", d.body, err)
	}

	tested, err := ops.TestWebhook(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	d = next(t, got)
	verify(t, res.Secret, d)
	if !strings.Contains(string(d.body), `"id":"`+tested.Event.ID+`"`) || tested.Event.Type != "webhook.test" {
		t.Errorf("test event %+v; the receiver got %s", tested.Event, d.body)
	}

	eventually(t, "the sender's success in show", func() bool {
		h, err := help.Webhook(ctx, "crm")
		return err == nil && h.LastSuccess != nil && h.Backlog == 0
	})
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/crm", "/v1/audit"} {
		if _, body := raw(t, r, http.MethodGet, path, ""); strings.Contains(body, strings.TrimPrefix(res.Secret, "whsec_")) {
			t.Errorf("GET %s shows the secret:\n%s", path, body)
		}
	}
	if _, err := ops.RemoveWebhook(ctx, "crm"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Status("crm"); ok {
		t.Error("the sender of a removed webhook still runs")
	}
	if _, err := help.Webhook(ctx, "crm"); err == nil {
		t.Error("a removed webhook is still shown")
	}
	audit, err := ops.Audit(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit.Entries {
		if strings.HasPrefix(e.Action, "webhook") {
			actions = append(actions, e.Action+" "+e.Selector+" "+e.Actor)
		}
	}
	want := []string{"webhook rm webhook=crm token:ops", "webhook test webhook=crm token:ops", "webhook add webhook=crm token:ops"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit: %q, want %q", actions, want)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 10s", what)
		}
	}
}

// TestWebhookKeysShownOnce: what add shows is what the spool signs with.
func TestWebhookKeysShownOnce(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	std, err := c.AddWebhook(t.Context(), admin.AddWebhookRequest{Name: "std", URL: "https://hooks.example.com/a"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := r.Spool.Webhook("std")
	if err != nil {
		t.Fatal(err)
	}
	if key, err := webhook.ParseSecret(std.Secret); err != nil || string(key) != string(stored.Secret) || len(key) != 32 {
		t.Errorf("secret %q does not decode to the stored key (%v)", std.Secret, err)
	}
	sg, err := c.AddWebhook(t.Context(), admin.AddWebhookRequest{Name: "sg", URL: "https://hooks.example.com/b", Format: "sendgrid"})
	if err != nil {
		t.Fatal(err)
	}
	if sg.Secret != "" || sg.Format != "sendgrid" {
		t.Errorf("sendgrid webhook created: %+v", sg)
	}
	stored, err = r.Spool.Webhook("sg")
	if err != nil {
		t.Fatal(err)
	}
	ep, err := server.Endpoint(stored)
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(sg.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	if !ep.PrivateKey.PublicKey.Equal(pub.(*ecdsa.PublicKey)) {
		t.Error("the public key shown is not the stored key's")
	}
	if _, err := c.AddWebhook(t.Context(), admin.AddWebhookRequest{Name: "basic", URL: "https://relay:hunter2@hooks.example.com/c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddWebhook(t.Context(), admin.AddWebhookRequest{Name: "tok", URL: "https://hooks.example.com/d?token=s3cr3t&flag"}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/tok", "/v1/audit"} {
		if _, body := raw(t, r, http.MethodGet, path, ""); strings.Contains(body, "secret") || strings.Contains(body, "key") ||
			strings.Contains(body, "hunter2") || strings.Contains(body, "s3cr3t") ||
			!strings.Contains(body, `https://hooks.example.com/d?flag=\u0026token=xxxxx`) ||
			path != "/v1/webhooks/tok" && !strings.Contains(body, "https://relay:xxxxx@hooks.example.com/c") {
			t.Errorf("GET %s shows a secret, a key, a password or a query's value:\n%s", path, body)
		}
	}
}

// TestWebhookRefusals: bad input gets a 400 that says what is wrong; a
// taken name 409; support staff may look but not change.
func TestWebhookRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	ops, help := client(t, r.TCP, operatorSecret), client(t, r.TCP, supportSecret)
	ctx := t.Context()
	if _, err := ops.AddWebhook(ctx, admin.AddWebhookRequest{Name: "crm", URL: "http://127.0.0.1:9/x"}); err != nil {
		t.Fatal(err)
	}
	port := r.TCP[strings.LastIndex(r.TCP, ":")+1:]
	tests := []struct {
		req  admin.AddWebhookRequest
		want string
	}{
		{admin.AddWebhookRequest{Name: "a", URL: "ftp://example.com/x"}, "want http:// or https://"},
		{admin.AddWebhookRequest{Name: "a", URL: "http:///x"}, "want http:// or https://"},
		{admin.AddWebhookRequest{Name: "a", URL: "http://" + r.TCP + "/v1/status"}, "own admin API"},
		{admin.AddWebhookRequest{Name: "a", URL: "http://localhost:" + port + "/"}, "own admin API"},
		{admin.AddWebhookRequest{Name: "a", URL: "http://example.com", Events: []string{"message.acepted"}}, `unknown event type "message.acepted"`},
		{admin.AddWebhookRequest{Name: "a", URL: "http://example.com", Format: "xml"}, `unknown webhook format "xml"`},
		{admin.AddWebhookRequest{Name: "Bad Name", URL: "http://example.com"}, "invalid webhook name"},
	}
	for _, tt := range tests {
		_, err := ops.AddWebhook(ctx, tt.req)
		if ae := apiError(t, err, http.StatusBadRequest, admin.CodeInvalid); !strings.Contains(ae.Message, tt.want) ||
			strings.Contains(ae.Message, tt.req.URL) {
			t.Errorf("%+v: %q, want it to say %q, without the url (it may hold a token)", tt.req, ae.Message, tt.want)
		}
	}
	_, err := ops.AddWebhook(ctx, admin.AddWebhookRequest{Name: "crm", URL: "http://example.com"})
	apiError(t, err, http.StatusConflict, admin.CodeExists)

	_, err = help.AddWebhook(ctx, admin.AddWebhookRequest{Name: "b", URL: "http://example.com"})
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)
	_, err = help.TestWebhook(ctx, "crm")
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)
	_, err = help.RemoveWebhook(ctx, "crm")
	apiError(t, err, http.StatusForbidden, admin.CodeForbidden)
	if list, err := help.Webhooks(ctx); err != nil || len(list) != 1 || list[0].Name != "crm" {
		t.Errorf("support's list: %+v, %v", list, err)
	}

	for _, call := range []func() error{
		func() error { _, err := ops.Webhook(ctx, "nope"); return err },
		func() error { _, err := ops.RemoveWebhook(ctx, "nope"); return err },
		func() error { _, err := ops.TestWebhook(ctx, "nope"); return err },
	} {
		if ae := apiError(t, call(), http.StatusNotFound, admin.CodeNotFound); ae.Message != `no webhook "nope"` {
			t.Errorf("404 says %q", ae.Message)
		}
	}
	if resp, body := raw(t, r, http.MethodPost, "/v1/webhooks", `{"name":"x","url":"http://example.com","secret":"mine"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a request naming its own secret: %d %s", resp.StatusCode, body)
	}
}
