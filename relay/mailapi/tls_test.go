package mailapi

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// TestHTTPS: with a certificate the API serves HTTPS, and the trace
// header says so.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	cert, pool := smtptest.Certificate(t)
	api := New(Options{Intake: h.intake, Clock: h.clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go api.Serve(l)
	t.Cleanup(func() { api.Shutdown(t.Context()) })
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", "https://"+l.Addr().String()+"/v3/mail/send", strings.NewReader(simple))
	req.Header.Set("Authorization", "Bearer "+h.key)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", res.StatusCode)
	}
	id, _ := spool.ParseID(res.Header.Get("X-Message-Id"))
	body, err := h.spool.Body(id)
	if err != nil || !strings.Contains(string(body), "with HTTPS;") {
		t.Errorf("trace header of a message over HTTPS:\n%s (%v)", body, err)
	}
	// Plain HTTP to the TLS listener gets nowhere.
	if res, err := http.Post("http://"+l.Addr().String()+"/v3/mail/send", "application/json", strings.NewReader(simple)); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusAccepted {
			t.Error("plain HTTP accepted on the HTTPS listener")
		}
	}
}

// TestSpoolRefuses: a spool that cannot take the request gets 503 in
// SendGrid's shape, never a 202.
func TestSpoolRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	h.mustSend(simple) // the key is now in the login cache
	h.spool.Close()
	r := h.send(simple)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errors(t)[0].Message, "nothing of it was kept") {
		t.Errorf("status %d, body %s; want 503", r.status, r.body)
	}
}
