// Package servertest starts a real admin server for tests, the way
// net/http/httptest starts an HTTP server: a real spool and credential
// service in temporary directories, served on a real unix socket and on
// 127.0.0.1:0, with a fake clock. Tests of the admin API and of relayctl
// share it.
//
// It cannot build relayd's dispatcher or SMTP intake itself: package
// admin must not import package relay. A test that wants them (relay may
// be imported by tests) builds them in Options.Dispatcher, from the
// spool, credentials and clock it is handed.
package servertest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// Now is where the server's fake clock starts; it stays there unless a
// test moves Relay.Clock, so outputs can be compared exactly.
var Now = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// Options tune the server; the zero value is fine.
type Options struct {
	Tokens []server.Token // for the TCP listener; none = no TCP listener
	Hold   time.Duration  // 0 = 30s
	// Dispatcher, if set, builds and starts what delivers from the spool
	// (and whatever else the test wants on it, such as an SMTP intake),
	// and returns the dispatcher the server drives. It must stop what it
	// starts in a t.Cleanup of its own, which runs after the server has
	// shut down and before the spool closes. Nil: a server without a
	// dispatcher, which is fine for everything but deliveries.
	Dispatcher func(Parts) server.Dispatcher
	// Webhooks, if set, builds and starts relayd's webhook senders, the
	// same way as Dispatcher, and returns what the server tells of
	// webhooks added and removed. Nil: no senders.
	Webhooks func(Parts) server.Webhooks
	// Ready is the server's readiness hook (server.Options.Ready); nil:
	// ready while not draining.
	Ready func() error
	// DKIM is the keyring the server reloads after a key change
	// (server.Options.DKIM); give the same one to the dispatcher.
	DKIM *dkim.Keyring
}

// Parts are what Options.Dispatcher builds on.
type Parts struct {
	T     testing.TB
	Spool *spool.Spool
	Creds *auth.Service
	Clock *clock.Fake
	Log   *slog.Logger
}

// Relay is a running admin server and what it serves.
type Relay struct {
	Spool  *spool.Spool
	Creds  *auth.Service
	Clock  *clock.Fake // the server's clock, and the dispatcher's if any
	Server *server.Server
	Socket string // "unix:PATH", the --admin form
	TCP    string // "127.0.0.1:PORT"; "" without tokens
	Log    *Buffer
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Relay {
	t.Helper()
	sp, _ := spooltest.Open(t)
	// Registered first, so it runs last: after the server and the
	// dispatcher have stopped.
	t.Cleanup(func() {
		if err := sp.Check(); err != nil {
			t.Errorf("spool invariants: %v", err)
		}
		if err := sp.Close(); err != nil && !errors.Is(err, spool.ErrClosed) {
			t.Errorf("close spool: %v", err)
		}
	})
	logs := &Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := clock.NewFake(Now)
	creds, err := auth.New(sp, auth.Options{Params: auth.TestParams, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if o.Hold == 0 {
		o.Hold = 30 * time.Second
	}
	var disp server.Dispatcher
	if o.Dispatcher != nil {
		disp = o.Dispatcher(Parts{T: t, Spool: sp, Creds: creds, Clock: clk, Log: log})
	}
	var hooks server.Webhooks
	if o.Webhooks != nil {
		hooks = o.Webhooks(Parts{T: t, Spool: sp, Creds: creds, Clock: clk, Log: log})
	}
	srv := server.New(server.Options{
		Spool: sp, Creds: creds, Dispatcher: disp, Hold: o.Hold, Upstream: "file:///var/spool/outbox",
		Version: "test", Tokens: o.Tokens, Now: clk.Now, Log: log, Webhooks: hooks,
		Ready: o.Ready, CheckUpstream: upstream.Check, DKIM: o.DKIM,
		Brake: server.BrakeDefaults{Duplicates: 5, Rate: 600}, // relayd's defaults
		Node:  "relay-test",
	})
	r := &Relay{Spool: sp, Creds: creds, Clock: clk, Server: srv, Log: logs}

	// Unix socket paths are limited to 108 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	r.Socket = "unix:" + filepath.Join(dir, "admin.sock")
	var serving sync.WaitGroup
	serve := func(spec string) net.Listener {
		l, tcp, err := server.Listen(spec)
		if err != nil {
			t.Fatal(err)
		}
		serving.Go(func() {
			if err := srv.Serve(l, tcp); err != nil {
				t.Errorf("Serve(%s) = %v, want nil after Shutdown", spec, err)
			}
		})
		return l
	}
	serve(r.Socket)
	if len(o.Tokens) > 0 {
		r.TCP = serve("127.0.0.1:0").Addr().String()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		serving.Wait()
		os.RemoveAll(dir)
	})
	return r
}

// Accept puts a message in the spool, received now by the server's clock,
// to wait out a 30s hold window.
func (r *Relay) Accept(t testing.TB, credential string) spool.Message {
	t.Helper()
	now := r.Clock.Now()
	m, err := r.Spool.Accept(spool.Incoming{
		Credential: credential, From: "app@example.com", To: []string{"someone@example.org"},
		Subject: "hello", Received: now, Release: now.Add(30 * time.Second),
	}, []byte("Subject: hello\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Buffer is a bytes.Buffer safe for the server's goroutines to log into.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
