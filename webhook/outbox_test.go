package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// memOutbox is the spool's outbox in memory: the spool side is built
// separately, and these tests are about the sender.
type memOutbox struct {
	mu       sync.Mutex
	events   []webhook.Event
	cursors  map[string]uint64
	acks     map[string][]uint64
	giveUps  map[string][][2]uint64 // through, n
	disabled map[string]string
	notify   func()
	expired  uint64 // events through this Seq are gone, as the spool's expiry deletes them
}

func newMemOutbox() *memOutbox {
	return &memOutbox{
		cursors: map[string]uint64{}, acks: map[string][]uint64{},
		giveUps: map[string][][2]uint64{}, disabled: map[string]string{},
	}
}

// add appends an event of type typ at time at and wakes the senders, as
// the spool does after its commit.
func (o *memOutbox) add(typ string, at time.Time, data any) webhook.Event {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	o.mu.Lock()
	seq := uint64(len(o.events) + 1)
	e := webhook.Event{Seq: seq, ID: fmt.Sprintf("evt_%d", seq), Type: typ, Time: at, Data: raw}
	o.events = append(o.events, e)
	notify := o.notify
	o.mu.Unlock()
	if notify != nil {
		notify()
	}
	return e
}

func (o *memOutbox) Cursor(endpoint string) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cursors[endpoint], nil
}

func (o *memOutbox) Events(after uint64, max int) ([]webhook.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if after < o.expired {
		after = o.expired
	}
	if after >= uint64(len(o.events)) {
		return nil, nil
	}
	evs := o.events[after:]
	return append([]webhook.Event(nil), evs[:min(max, len(evs))]...), nil
}

func (o *memOutbox) Ack(endpoint string, through uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cursors[endpoint] = through
	o.acks[endpoint] = append(o.acks[endpoint], through)
	return nil
}

func (o *memOutbox) GiveUp(endpoint string, through uint64, n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cursors[endpoint] = through
	o.giveUps[endpoint] = append(o.giveUps[endpoint], [2]uint64{through, uint64(n)})
	return nil
}

func (o *memOutbox) Disable(endpoint, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.disabled[endpoint] = reason
	return nil
}

func (o *memOutbox) cursor(endpoint string) uint64 {
	c, _ := o.Cursor(endpoint)
	return c
}

func (o *memOutbox) giveUpList(endpoint string) [][2]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.giveUps[endpoint])
}

func (o *memOutbox) ackList(endpoint string) []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uint64(nil), o.acks[endpoint]...)
}

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// harness is a running Manager over a memOutbox, on a fake clock.
type harness struct {
	clk *clock.Fake
	out *memOutbox
	m   *webhook.Manager
	reg *prometheus.Registry
}

// start runs a Manager with cfg (Outbox, Clock and Metrics filled in) and
// stops it when the test ends.
func start(t *testing.T, cfg webhook.Config) *harness {
	t.Helper()
	h := &harness{clk: clock.NewFake(t0), out: newMemOutbox(), reg: prometheus.NewRegistry()}
	cfg.Outbox, cfg.Clock, cfg.Metrics = h.out, h.clk, webhook.NewMetrics(h.reg)
	h.m = webhook.NewManager(cfg)
	h.out.notify = h.m.Notify
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// standard returns a valid standard-format endpoint for url, and its
// secret in the form shown to the operator.
func standard(t *testing.T, name, url string, events ...string) (webhook.Endpoint, string) {
	t.Helper()
	key, shown := webhook.NewSecret()
	return webhook.Endpoint{Name: name, URL: url, Secret: key, Events: events}, shown
}

func (h *harness) add(t *testing.T, ep webhook.Endpoint) {
	t.Helper()
	if err := h.m.Add(ep); err != nil {
		t.Fatal(err)
	}
}

// waitStatus waits (in real time, for the sender's goroutine) until the
// endpoint's status satisfies cond.
func (h *harness) waitStatus(t *testing.T, name string, cond func(webhook.Status) bool) webhook.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := h.m.Status(name)
		if ok && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook %s: status never got there; last %+v", name, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// request is one POST a receiver got.
type request struct {
	header http.Header
	body   []byte
	path   string
}

// receiver is a real HTTP server on loopback that records every request
// and answers with answer(n) for the n-th (from 0), 200 when nil.
type receiver struct {
	srv    *httptest.Server
	got    chan request
	answer func(n int, w http.ResponseWriter, r *http.Request)
	mu     sync.Mutex
	n      int
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{got: make(chan request, 100), answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := rc.n
	rc.n++
	rc.mu.Unlock()
	rc.got <- request{header: r.Header.Clone(), body: body, path: r.URL.Path}
	if rc.answer != nil {
		rc.answer(n, w, r)
	}
}

// next returns the next request, failing the test after 10 s of waiting.
func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("receiver got no request")
		return request{}
	}
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// message is the data of a message event with the given recipients.
func message(id string, rcpts ...string) webhook.MessageData {
	return webhook.MessageData{
		MessageID: id, Credential: "shop", From: "shop@example.com", Recipients: rcpts,
		Subject: "Your order", MessageIDHeader: "<" + id + "@shop.example.com>",
	}
}

// metric returns the value of the counter name for the label values
// given in order, 0 when it was never counted.
func (h *harness) metric(t *testing.T, name string, values ...string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// len is the number of events in the outbox: the Seq of the last one.
func (o *memOutbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events)
}

// pollStatus reads the endpoint's status over and over until the test
// ends or the returned function is called, which stops the polling and
// tells how many reads satisfied bad.
func pollStatus(t *testing.T, h *harness, name string, bad func(webhook.Status) bool) func() int {
	stop, done := make(chan struct{}), make(chan struct{})
	var n int
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if st, ok := h.m.Status(name); ok && bad(st) {
				n++
			}
			runtime.Gosched() // with one P, the sender must still run
		}
	}()
	var once sync.Once
	finish := func() int {
		once.Do(func() { close(stop); <-done })
		return n
	}
	t.Cleanup(func() { finish() })
	return finish
}
