package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// relayd is relayd assembled in-process from its real parts, wired the
// way cmd/relayd wires them: a spool file, the SMTP intake on
// 127.0.0.1:0, the dispatcher delivering to an in-process upstream SMTP
// server, and the admin API on a unix socket (and TCP, with tokens). Only
// the clock is fake: Clock.Advance crosses a hold window without sleeping.
//
// Two credentials exist, shop and billing; send submits as either.
type relayd struct {
	*servertest.Relay
	up        *smtptest.Server
	smtp      string            // the intake's address
	passwords map[string]string // by credential
}

func startRelayd(t *testing.T, tokens ...server.Token) *relayd {
	t.Helper()
	return startRelaydWith(t, relaydOptions{tokens: tokens})
}

// relaydOptions shape a relayd for the tests that need more than the
// defaults.
type relaydOptions struct {
	tokens []server.Token
	// onData, if set, is the upstream's OnData hook: it sees each message
	// before the upstream answers the final dot (a sleep makes a slow one).
	onData func(smtptest.Message) error
	// concurrency bounds the dispatcher's deliveries at once; 0: relayd's default.
	concurrency int
	// dkim is the keyring the dispatcher signs with and the admin API
	// reloads; nil: no signing.
	dkim *dkim.Keyring
	// onRcpt, if set, is the upstream's OnRcpt hook.
	onRcpt func(to string) error
	// bounces turns on the dispatcher's DSNs.
	bounces bool
}

func startRelaydWith(t *testing.T, o relaydOptions) *relayd {
	t.Helper()
	rd := &relayd{up: &smtptest.Server{OnData: o.onData, OnRcpt: o.onRcpt}, passwords: map[string]string{}}
	upAddr := rd.up.Start(t)
	var signer relay.Signer
	if o.dkim != nil {
		signer = o.dkim
	}
	rd.Relay = servertest.Start(t, servertest.Options{Tokens: o.tokens, DKIM: o.dkim, Dispatcher: func(p servertest.Parts) server.Dispatcher {
		tr, err := upstream.New("smtp://"+upAddr+"?tls=none", upstream.Options{Hostname: "relay.test"})
		if err != nil {
			t.Fatal(err)
		}
		routes := func(name string) relay.Route {
			c, _ := p.Creds.Get(name)
			return relay.Route{Primary: c.Upstream, Fallback: c.UpstreamFallback}
		}
		disp := relay.NewDispatcher(relay.DispatcherConfig{Concurrency: o.concurrency, Routes: routes,
			Upstream: upstream.Options{Hostname: "relay.test"},
			Signer:   signer, Bounces: o.bounces, Hostname: "relay.test"}, p.Spool, tr, p.Clock, p.Log)
		in := relay.NewIntake(relay.IntakeConfig{Hostname: "relay.test", Hold: 30 * time.Second},
			p.Spool, p.Creds, p.Clock, p.Log, disp.Notify)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rd.smtp = l.Addr().String()
		go in.Serve(l, false)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			disp.Run(ctx, ctx)
			close(done)
		}()
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			in.Shutdown(sctx)
			stop()
			<-done
		})
		return disp
	}})
	for _, name := range []string{"shop", "billing"} {
		_, pw, err := rd.Creds.Add(name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		rd.passwords[name] = pw
	}
	return rd
}

// send submits a message over SMTP as cred, from cred@example.com, and
// returns its ID from the 250 reply.
func (rd *relayd) send(t *testing.T, cred, subject string, to ...string) string {
	t.Helper()
	if len(to) == 0 {
		to = []string{"someone@example.org"}
	}
	c, err := smtp.Dial(rd.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", cred, rd.passwords[cred])); err != nil {
		t.Fatalf("AUTH as %s: %v", cred, err)
	}
	from := cred + "@example.com"
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@example.com>\r\n\r\nHello.\r\n",
		from, strings.Join(to, ", "), subject, time.Now().UnixNano())
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	_, id, ok := strings.Cut(resp.StatusText, "queued as ")
	if !ok {
		t.Fatalf("reply %q names no ID", resp.StatusText)
	}
	c.Quit()
	return id
}

// state returns a message's state, read from the spool.
func (rd *relayd) state(t *testing.T, id string) spool.State {
	t.Helper()
	return rd.message(t, id).State
}

func (rd *relayd) message(t *testing.T, id string) spool.Message {
	t.Helper()
	sid, err := spool.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rd.Spool.Get(sid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitState polls until the message reaches want. The dispatcher works on
// goroutines of its own: this waits for them, never for a hold window.
func (rd *relayd) waitState(t *testing.T, id string, want spool.State) {
	t.Helper()
	eventually(t, fmt.Sprintf("message %s %s", id, want), func() bool { return rd.state(t, id) == want })
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 10s", what)
		}
	}
}

// states asserts the states of several messages at once.
func (rd *relayd) states(t *testing.T, want map[string]spool.State) {
	t.Helper()
	for id, st := range want {
		if got := rd.state(t, id); got != st {
			t.Errorf("message %s is %s, want %s", id, got, st)
		}
	}
}

// relayctlIn runs relayctl with stdin.
func relayctlIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}
