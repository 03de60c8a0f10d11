package mailapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// TestMain stops the PostgreSQL server the tests started, if they ran on
// it (RELAY_TEST_SPOOL=pg).
func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

const hold = 30 * time.Second

// harness is relay assembled from its real parts, as relayd does: a spool
// file, credentials, the intake, a dispatcher delivering to an in-process
// upstream SMTP server, and the Mail Send API on 127.0.0.1:0. Only the
// clock is fake.
type harness struct {
	t        *testing.T
	clock    *clock.Fake
	spool    *spool.Spool
	creds    *auth.Service
	intake   *relay.Intake
	upstream *smtptest.Server
	url      string // http://127.0.0.1:PORT
	key      string // the API key of the credential "app"
}

func newHarness(t *testing.T, cfg relay.IntakeConfig) *harness {
	t.Helper()
	return newHarnessParams(t, cfg, auth.TestParams)
}

// newHarnessParams is newHarness with these argon2 parameters.
func newHarnessParams(t *testing.T, cfg relay.IntakeConfig, params auth.Params) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewFake(t0), upstream: &smtptest.Server{}}
	upAddr := h.upstream.Start(t)
	var err error
	h.spool, _ = spooltest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.creds, err = auth.New(h.spool, auth.Options{Params: params, Now: h.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, pw, err := h.creds.Add("app", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.key = auth.APIKey("app", pw)
	tr, err := upstream.New("smtp://"+upAddr+"?tls=none", upstream.Options{Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	disp := relay.NewDispatcher(relay.DispatcherConfig{}, h.spool, tr, h.clock, log)
	cfg.Hold = hold

	cfg.Hostname = "relay.test"
	h.intake = relay.NewIntake(cfg, h.spool, h.creds, h.clock, log, disp.Notify)
	api := New(Options{Intake: h.intake, Clock: h.clock, Log: log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + l.Addr().String()
	go api.Serve(l)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		disp.Run(ctx, ctx)
		close(done)
	}()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.Shutdown(sctx)
		stop()
		<-done
		if err := h.spool.Check(); err != nil && !errors.Is(err, spool.ErrClosed) {
			t.Errorf("spool invariants: %v", err)
		}
		h.spool.Close()
	})
	return h
}

// response is an answer of the API, its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errors decodes SendGrid's error body, failing the test if it is not one.
func (r response) errors(t *testing.T) []Error {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Errors) == 0 {
		t.Fatalf("status %d, body %q: not SendGrid's error body", r.status, r.body)
	}
	return b.Errors
}

// do sends a request with the API key of "app" (key "" for none).
func (h *harness) do(method, path, key, body string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) send(body string) response {
	h.t.Helper()
	return h.do("POST", "/v3/mail/send", h.key, body)
}

// mustSend sends and wants 202, returning the X-Message-Id.
func (h *harness) mustSend(body string) spool.ID {
	h.t.Helper()
	r := h.send(body)
	if r.status != http.StatusAccepted {
		h.t.Fatalf("status %d, body %s; want 202", r.status, r.body)
	}
	if len(r.body) != 0 {
		h.t.Errorf("a 202 with a body: %q", r.body)
	}
	id, err := spool.ParseID(r.header.Get("X-Message-Id"))
	if err != nil {
		h.t.Fatalf("X-Message-Id %q: %v", r.header.Get("X-Message-Id"), err)
	}
	return id
}

// spooled lists every message in the spool, oldest first.
func (h *harness) spooled() []spool.Message {
	h.t.Helper()
	ms, _, err := h.spool.List(spool.Selector{All: true}, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]spool.Message, len(ms))
	for i := range ms {
		out[len(ms)-1-i] = ms[i]
	}
	return out
}

// deliver moves the clock past the hold window and waits for n messages
// at the upstream.
func (h *harness) deliver(n int) []smtptest.Message {
	h.t.Helper()
	h.clock.Advance(hold + time.Second)
	return h.upstream.Wait(h.t, n)
}

// waitState waits (in real time, a few seconds at most) for the
// dispatcher to record a message's state: the upstream has the message
// a moment before the spool knows it.
func (h *harness) waitState(id spool.ID, want spool.State) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := h.spool.Get(id)
		if err == nil && m.State == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%v: state %s (%v), want %s", id, m.State, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
