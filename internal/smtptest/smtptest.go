// Package smtptest runs a real SMTP server in-process, for tests that need an
// upstream to deliver to or a client to talk to. It is go-smtp's server on
// 127.0.0.1:0 with a recording, scriptable backend; no part of the dialogue
// is faked.
//
// A test sets the fields it needs, then calls Start:
//
//	up := &smtptest.Server{
//		TLS:    smtptest.StartTLS,
//		Users:  map[string]string{"app": "s3cret"},
//		OnRcpt: func(to string) error { ... }, // return an *smtp.SMTPError to refuse
//	}
//	addr := up.Start(t) // closed by t.Cleanup
//	tlsConfig := &tls.Config{RootCAs: up.RootCAs()}
//	... deliver to addr ...
//	msgs := up.Messages()
//
// What it offers:
//
//   - TLS: Plain (no STARTTLS offered), StartTLS, or Implicit (smtps), with a
//     self-signed certificate for 127.0.0.1, ::1 and localhost that RootCAs
//     trusts.
//   - AUTH PLAIN when Users is set, over plain text too; MAIL before AUTH is
//     then refused with 530 5.7.0. Messages record the credentials used.
//   - Hooks to script replies: OnSession (at EHLO: e.g. 421), OnMail, OnRcpt,
//     OnData (the whole message, after the final dot). A hook's
//     *smtp.SMTPError is sent as is; go-smtp turns other errors into 451 at
//     EHLO and 554 elsewhere.
//   - Stalls: StallDATA holds the 354 reply to DATA, so the client cannot
//     have sent the message, let alone the final dot; StallEndOfData holds
//     the reply to the final dot, with the message fully received. Both
//     return a Gate: Reached tells when a session is stuck, Release frees it.
//   - Observation: Messages (accepted messages, in order), Wait (block until
//     n are accepted), AbortedData (DATA transfers cut before the final dot),
//     WaitIdle (block until every connection has closed).
//
// A message is recorded only when the server is about to answer 250 to the
// final dot: a rejected or aborted transfer leaves no trace in Messages.
package smtptest

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TLSMode is how the server offers TLS.
type TLSMode int

const (
	Plain    TLSMode = iota // no TLS: STARTTLS is not offered
	StartTLS                // STARTTLS offered
	Implicit                // TLS from the first byte, as smtps
)

// waitLimit bounds Wait and WaitIdle, so a broken test fails instead of hanging.
const waitLimit = 10 * time.Second

// Message is one message the server accepted.
type Message struct {
	From     string
	To       []string
	Data     []byte // as received, CRLF line endings and all, dot-stuffing undone
	Hello    string // the client's last EHLO name
	TLS      bool   // the transfer ran over TLS (STARTTLS or implicit)
	Username string // AUTH PLAIN credentials of the session; "" without AUTH
	Password string
}

// Server is a scriptable SMTP server. Set its fields before Start; they must
// not change afterwards. Hooks run on the server's session goroutines.
type Server struct {
	TLS TLSMode
	// Listen is the address Start listens on; "" is 127.0.0.1:0. Tests of
	// an upstream that comes back name the port it was down on.
	Listen string
	// Users turns on AUTH PLAIN and maps each username to its password.
	Users map[string]string

	// OnSession runs when a client says EHLO (go-smtp opens its sessions
	// then, not at the 220 greeting); an error is the EHLO reply, e.g.
	// &smtp.SMTPError{Code: 421, ...}. It runs again after STARTTLS.
	OnSession func(hello string) error
	OnMail    func(from string) error
	OnRcpt    func(to string) error
	// OnData sees each complete message; an error rejects it. Blocking here
	// stalls the reply to the final dot, as StallEndOfData does.
	OnData func(m Message) error

	srv     *smtp.Server
	ln      *listener
	addr    string
	pool    *x509.CertPool
	done    chan struct{} // closed by Close: frees every stalled session
	served  chan struct{} // closed when Serve has returned
	closing sync.Once

	mu       sync.Mutex
	msgs     []Message
	changed  chan struct{} // closed and replaced whenever msgs grows
	aborted  int
	dataGate *Gate
	endGate  *Gate
	open     int           // connections not yet closed
	idle     chan struct{} // closed while open == 0
}

// Start listens on Listen (127.0.0.1:0 by default), serves until t's cleanup, and returns the
// address ("127.0.0.1:port").
func (s *Server) Start(t testing.TB) string {
	t.Helper()
	cert, pool, err := selfSigned()
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	raw, err := net.Listen("tcp", cmp.Or(s.Listen, "127.0.0.1:0"))
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.pool, s.addr = pool, raw.Addr().String()
	s.done, s.served = make(chan struct{}), make(chan struct{})
	s.changed, s.idle = make(chan struct{}), make(chan struct{})
	close(s.idle)
	s.ln = &listener{Listener: raw, s: s}
	s.srv = s.newSMTPServer()
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	var l net.Listener = s.ln
	switch s.TLS {
	case StartTLS:
		s.srv.TLSConfig = tlsConfig
	case Implicit:
		l = tls.NewListener(s.ln, tlsConfig)
	}
	go func() {
		defer close(s.served)
		s.srv.Serve(l)
	}()
	t.Cleanup(s.Close)
	return s.addr
}

func (s *Server) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 64 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// Aborted sessions are the point of many tests: keep them off stderr.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

// Addr is the address Start returned.
func (s *Server) Addr() string { return s.addr }

// RootCAs trusts the server's certificate. Valid after Start.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// Close frees stalled sessions, closes every connection and stops serving.
// Start arranges for it to run at cleanup; calling it earlier is fine.
func (s *Server) Close() {
	s.closing.Do(func() {
		close(s.done)
		s.srv.Close()
		// go-smtp's Close misses a listener Serve has not yet registered.
		s.ln.Close()
		s.ln.closeAll()
		<-s.served
	})
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Wait blocks until at least n messages have been accepted and returns them
// all; it fails the test after 10 seconds.
func (s *Server) Wait(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		msgs, changed := slices.Clone(s.msgs), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("smtptest: %d messages accepted after %v, want %d", len(msgs), waitLimit, n)
		}
	}
}

// AbortedData counts DATA transfers that ended before the final dot, the
// client having gone away.
func (s *Server) AbortedData() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// WaitIdle blocks until every connection accepted so far has been closed, by
// either side, so that a test can look at what the sessions left behind; it
// fails the test after 10 seconds.
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(waitLimit):
		t.Fatalf("smtptest: connections still open after %v", waitLimit)
	}
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}
