package relay

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

func TestSTARTTLSUnlocksAuthForRemoteClients(t *testing.T) {
	cert, pool := smtptest.Certificate(t)
	h := newHarness(t, harnessConfig{remote: true, intake: IntakeConfig{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}})
	c := h.dial()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered with a certificate set")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS to a remote client")
	}
	c, err := smtp.DialStartTLS(h.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, params := c.Extension("AUTH"); !ok || params != "PLAIN LOGIN" {
		t.Fatalf("AUTH after STARTTLS = %v %q", ok, params)
	}
	if err := c.Auth(sasl.NewLoginClient("app", h.password)); err != nil {
		t.Fatal(err)
	}
	reply, err := send(t, c, "app@example.com", []string{"user@example.net"}, message("over tls"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.waitState(id, spool.Waiting)
	body, _ := h.spool.Body(id)
	if !strings.Contains(string(body), "with ESMTPSA;") {
		t.Errorf("Received header does not record TLS and AUTH:\n%s", body)
	}
}

func TestImplicitTLSListener(t *testing.T) {
	cert, pool := smtptest.Certificate(t)
	h := newHarness(t, harnessConfig{remote: true, intake: IntakeConfig{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.intake.Serve(l, true)
	c, err := smtp.DialTLS(l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on a connection that is already TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatalf("AUTH over implicit TLS: %v", err)
	}
	if _, err := send(t, c, "app@example.com", []string{"user@example.net"}, message("smtps")); err != nil {
		t.Fatal(err)
	}
}
