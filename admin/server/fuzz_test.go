package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/relay/upstream"
)

// FuzzAddCredential sends arbitrary bodies to POST /v1/credentials: every
// answer is a success or a client error with a JSON Error body, never a
// 500 or a crash.
func FuzzAddCredential(f *testing.F) {
	for _, seed := range []string{
		`{"name":"shop"}`, `{"name":"shop","hold":"5m","description":"x"}`, `{"name":"Shop"}`,
		`{"name":"x","hold":"-1s"}`, `{"name":"x","hold":null}`, `{"nam":"x"}`, `[]`, `null`, `{`, ``,
		`{"name":"y","hold":"default","allowed_senders":["a@b.example","@c.example"],"max_message_size":1024,"rate_limit":60}`,
		`{"name":"z","allowed_senders":["@"]}`, `{"name":"z","rate_limit":-5}`, `{"name":"z","max_message_size":-1}`,
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/credentials", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+operatorSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated:
			var cc admin.CredentialCreated
			if err := json.Unmarshal(w.Body.Bytes(), &cc); err != nil || cc.Password == "" {
				t.Fatalf("201 with %q: %v", w.Body, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var e admin.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d with %q: %v", w.Code, w.Body, err)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzActionRequest sends arbitrary bodies to a change (a dry-run-free
// hold, the cheapest to undo): every answer is a result or a client
// error, never a 500 or a crash.
func FuzzActionRequest(f *testing.F) {
	for _, seed := range []string{
		`{"selector":{"all":true}}`, `{"selector":{"ids":["0000000000001"]},"dry_run":true}`,
		`{"selector":{"ids":["nope"]}}`, `{"selector":{"states":["held","lost"]}}`, `{"selector":{}}`,
		`{"selector":{"older_than":"-1h"}}`, `{"selector":{"from":"@x","to":"a@b","credential":"shop"},"reason":"r"}`,
		`{"selector":{"newer_than":"9999999h"}}`, `{"selector":null}`, `{}`, `[]`, ``,
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	r.Accept(f, "shop")
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/hold", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+supportSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			var res admin.ActionResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Action != "hold" || res.Counts == nil {
				t.Fatalf("200 with %q: %v", w.Body, err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var e admin.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d with %q: %v", w.Code, w.Body, err)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzListQuery sends arbitrary queries to GET /v1/messages: a page or
// a 400, never anything else.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"", "state=held,waiting&limit=10", "cursor=0000000000001", "cursor=x", "limit=-1", "older_than=1h&newer_than=2h",
		"from=%40example.com", "to=a%20b", "all=1", "state=&state=", "credential=Shop", "limit=99999999999999999999",
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	r.Accept(f, "shop")
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/v1/messages", nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+supportSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			var list admin.MessageList
			if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || list.Messages == nil {
				t.Fatalf("200 with %q: %v", w.Body, err)
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("query %q: status %d %s", query, w.Code, w.Body)
		}
	})
}

// FuzzUpdateCredential sends arbitrary bodies to PATCH
// /v1/credentials/{name}: the credential or a client error, never a 500
// or a crash; and whatever is stored is a setting auth accepts.
func FuzzUpdateCredential(f *testing.F) {
	for _, seed := range []string{
		`{"rate_limit":10}`, `{"hold":"default"}`, `{"hold":"0s","max_message_size":1048576}`, `{"hold":"-1s"}`,
		`{"allowed_senders":[]}`, `{"allowed_senders":["a@b.example","@c.example"]}`, `{"allowed_senders":["x"]}`,
		`{"allowed_senders":null}`, `{"description":"a\u0007b"}`, `{"rate_limit":-1}`, `{"max_message_size":1e3}`,
		`{"reason":"r"}`, `{}`, `null`, `[]`, ``,
		`{"upstream":"smtps://u:pw@mx.example"}`, `{"upstream":"default","upstream_fallback":"smtp://h:2525?tls=none"}`,
		`{"upstream_fallback":"file:///tmp/out"}`, `{"upstream":"smtp://u:pw@h:0"}`, `{"upstream":"x"}`,
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		f.Fatal(err)
	}
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("PATCH", "/v1/credentials/shop", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+operatorSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			var c admin.Credential
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || c.Name != "shop" || c.AllowedSenders == nil ||
				c.RateLimit < 0 || c.MaxMessageSize < 0 {
				t.Fatalf("200 with %q: %v", w.Body, err)
			}
			stored, _ := r.Creds.Get("shop")
			for _, u := range []string{stored.Upstream, stored.UpstreamFallback} {
				if u != "" && upstream.Check(u) != nil {
					t.Fatalf("stored upstream %q, which relayd refuses", u)
				}
			}
			for _, u := range []string{c.Upstream, c.UpstreamFallback} {
				if pu, err := url.Parse(u); err == nil && pu.User != nil {
					if pw, ok := pu.User.Password(); ok && pw != "xxxxx" {
						t.Fatalf("the answer shows an upstream's password: %q", u)
					}
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var e admin.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d with %q: %v", w.Code, w.Body, err)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzAddWebhook sends arbitrary bodies to POST /v1/webhooks: a webhook
// that its sender accepts, or a client error, never a 500 or a crash.
func FuzzAddWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"name":"crm","url":"https://crm.example.com/hook"}`, `{"name":"sg","url":"http://h/","format":"sendgrid","events":["message.*"]}`,
		`{"name":"a","url":"ftp://h/"}`, `{"name":"a","url":"http://h","events":["nope"]}`, `{"name":"a","url":"http://h","format":"xml"}`,
		`{"name":"","url":"http://h"}`, `{"name":"a","url":"http://[::1]:0/"}`, `{"name":"a","url":"http://h","secret":"x"}`, `{`, ``, `null`,
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/webhooks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+operatorSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated:
			var wc admin.WebhookCreated
			if err := json.Unmarshal(w.Body.Bytes(), &wc); err != nil || wc.Secret == "" && wc.PublicKey == "" {
				t.Fatalf("201 with %q: %v", w.Body, err)
			}
			stored, err := r.Spool.Webhook(wc.Name)
			if err != nil {
				t.Fatal(err)
			}
			ep, err := server.Endpoint(stored)
			if err == nil {
				err = ep.Validate()
			}
			if err != nil {
				t.Fatalf("stored %+v, which the sender refuses: %v", stored, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzEventsQuery sends arbitrary queries to GET /v1/events: JSON lines
// or a 400, never a 500 or a crash. The request's context has ended, so
// that a stream asked to follow ends after its first pass.
func FuzzEventsQuery(f *testing.F) {
	for _, seed := range []string{
		"", "after=1", "type=message.*&type=credential.added", "type=nope", "follow=1", "credential=shop&to=%40example.org",
		"state=held", "after=-1", "after=99999999999999999999", "batch=b%20c", "category=x", "all=true",
	} {
		f.Add(seed)
	}
	r := servertest.Start(f, servertest.Options{Tokens: tokens})
	r.Accept(f, "shop")
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", "/v1/events", nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+supportSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			for line := range strings.Lines(w.Body.String()) {
				var e admin.OutboxEvent
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.Seq == 0 {
					t.Fatalf("200 with line %q: %v", line, err)
				}
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("query %q: status %d %s", query, w.Code, w.Body)
		}
	})
}
