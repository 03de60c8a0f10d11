package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

const (
	maxBatch    = 100      // events per POST, as the contract says
	maxResponse = 64 << 10 // bytes of a response body read before closing it
)

// Status is what a sender knows of its endpoint, apart from the backlog
// (which the outbox knows). It lives in memory: a restart clears it.
type Status struct {
	Cursor      uint64 // Seq of the last event acknowledged, passed over or given up
	LastSuccess time.Time
	LastError   string
	LastErrorAt time.Time
	Failures    int       // consecutive failed attempts at the current batch
	NextAttempt time.Time // when the current batch is tried again; zero when not waiting to
	Disabled    string    // why the sender stopped for good (a 410)
}

// batch is one request body, built once and sent until it settles, or,
// when lost is set, events given up without a request.
type batch struct {
	events  []Event // matched, in Seq order
	through uint64  // the last Seq read, matched or not
	id      string
	body    []byte
	lost    error // why the events through `through` cannot be sent
	nLost   int
}

// sender delivers the outbox to one endpoint. Only its goroutine touches
// cursor; status is shared with Manager.Status under mu.
type sender struct {
	ep     Endpoint
	cfg    *Config
	client *http.Client
	log    *slog.Logger
	notify chan struct{} // buffered 1: a wake-up never blocks and is never lost
	cancel context.CancelFunc
	done   chan struct{}

	cursor uint64

	mu     sync.Mutex
	status Status
}

func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	if !s.loadCursor(ctx) {
		return
	}
	for ctx.Err() == nil {
		b, err := s.collect()
		switch {
		case err != nil:
			s.log.Error("webhook outbox read failed", "err", err)
			s.record(func(st *Status) { st.LastError, st.LastErrorAt = err.Error(), s.cfg.Clock.Now() })
			s.sleep(ctx, s.cfg.Clock.Now().Add(s.cfg.MinBackoff))
		case b == nil:
			s.idle(ctx)
		case b.lost != nil:
			s.giveUp(b.through, b.nLost, b.lost)
		case len(b.body) == 0:
			s.advance(b.through, s.cfg.Outbox.Ack, nil)
		case !s.deliver(ctx, b):
			return
		}
	}
}

// loadCursor reads where the endpoint's delivery stands, retrying until
// the outbox answers or ctx ends.
func (s *sender) loadCursor(ctx context.Context) bool {
	for {
		c, err := s.cfg.Outbox.Cursor(s.ep.Name)
		if err == nil {
			s.cursor = c
			s.record(func(st *Status) { st.Cursor = c })
			return true
		}
		s.log.Error("webhook cursor read failed", "err", err)
		if !s.sleep(ctx, s.cfg.Clock.Now().Add(s.cfg.MinBackoff)) {
			return false
		}
	}
}

// collect reads the events after the cursor and keeps up to maxBatch that
// the endpoint wants. It returns nil when there is nothing after the
// cursor, a batch without body when nothing read is for this endpoint,
// and a lost batch for events that can never be sent.
func (s *sender) collect() (*batch, error) {
	b := &batch{through: s.cursor}
	for {
		evs, err := s.cfg.Outbox.Events(b.through, maxBatch)
		if err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if b.through == s.cursor && len(evs) > 0 && evs[0].Seq > s.cursor+1 {
			return s.gap(evs[0].Seq), nil
		}
		if s.take(b, evs) || len(evs) < maxBatch {
			break
		}
	}
	if b.lost != nil {
		return b, nil
	}
	if b.through == s.cursor {
		return nil, nil
	}
	if len(b.events) == 0 {
		return b, nil
	}
	body, err := s.ep.body(b.events)
	if err != nil {
		return nil, fmt.Errorf("encode events: %w", err)
	}
	b.body = body
	b.id = batchID(s.ep.Name, b.events[0].Seq, b.events[len(b.events)-1].Seq)
	return b, nil
}

// gap is the lost batch of the events between the cursor and first, the
// first Seq the outbox still has: it expired them before they were sent
// (relayd was down longer than they are kept).
func (s *sender) gap(first uint64) *batch {
	n := first - 1 - s.cursor
	return &batch{through: first - 1, nLost: int(n),
		lost: fmt.Errorf("events %d to %d expired from the outbox before they were sent", s.cursor+1, first-1)}
}

// take adds to b the events of evs the endpoint wants, moving b.through
// past every event it looked at, and reports whether b is complete. An
// event that cannot be encoded completes b before it, or, first in b,
// makes b a lost batch of its own: retrying it could never succeed, and
// it would block the events behind it.
func (s *sender) take(b *batch, evs []Event) (complete bool) {
	for _, e := range evs {
		if len(b.events) == maxBatch {
			return true
		}
		if !s.ep.wants(&e) {
			b.through = e.Seq
			continue
		}
		if err := s.ep.encodable(&e); err != nil {
			if len(b.events) == 0 {
				b.through, b.nLost, b.lost = e.Seq, 1, fmt.Errorf("event %s (%s) cannot be sent: %w", e.ID, e.Type, err)
			}
			return true
		}
		b.through = e.Seq
		b.events = append(b.events, e)
	}
	return len(b.events) == maxBatch
}

// deliver sends b until it settles. It returns false when the sender must
// stop: the endpoint is gone, or ctx ended.
func (s *sender) deliver(ctx context.Context, b *batch) bool {
	deadline := oldest(b.events).Add(s.cfg.MaxAge)
	for failures := 1; ; failures++ {
		code, err := s.post(ctx, b)
		if ctx.Err() != nil {
			return false
		}
		switch {
		case err == nil:
			s.cfg.Metrics.request(s.ep.Name, "ok")
			s.delivered(b)
			return true
		case code == http.StatusGone:
			s.cfg.Metrics.request(s.ep.Name, "gone")
			s.disable(err)
			return false
		}
		s.cfg.Metrics.request(s.ep.Name, "failed")
		next, retry := s.failed(b, failures, deadline, err)
		if !retry {
			return true
		}
		if !s.sleep(ctx, next) {
			return false
		}
	}
}

// failed handles a failed attempt at b: it plans the next one, or, once
// the deadline has passed, gives the expired events up.
func (s *sender) failed(b *batch, failures int, deadline time.Time, err error) (next time.Time, retry bool) {
	now := s.cfg.Clock.Now()
	if !now.Before(deadline) {
		s.expire(b, now, err)
		return time.Time{}, false
	}
	next = now.Add(s.backoff(failures))
	if next.After(deadline) {
		next = deadline // one last try when MaxAge runs out
	}
	s.log.Warn("webhook attempt failed", "attempt", failures, "retry_at", next, "err", err)
	s.record(func(st *Status) {
		st.LastError, st.LastErrorAt, st.Failures, st.NextAttempt = err.Error(), now, failures, next
	})
	return next, true
}

// post makes one attempt. Any answer but a 2xx is an error; the status
// code, when there is one, comes with it.
func (s *sender) post(ctx context.Context, b *batch) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ep.URL, bytes.NewReader(b.body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", withoutURL(err))
	}
	if err := s.ep.sign(req.Header, b.id, s.cfg.Clock.Now().Unix(), b.body); err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook post: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("webhook receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

func (s *sender) delivered(b *batch) {
	s.cfg.Metrics.settled(s.ep.Name, "delivered", len(b.events))
	now := s.cfg.Clock.Now()
	s.advance(b.through, s.cfg.Outbox.Ack, func(st *Status) {
		st.LastSuccess, st.Failures, st.NextAttempt = now, 0, time.Time{}
	})
}

// expire gives up the events of b that have outlived MaxAge. The rest,
// if any, make a new batch on the next round.
func (s *sender) expire(b *batch, now time.Time, err error) {
	n := 0
	for i, e := range b.events {
		if !now.Before(e.Time.Add(s.cfg.MaxAge)) {
			n = i + 1
		}
	}
	through := b.through
	if n < len(b.events) {
		through = b.events[n].Seq - 1
	}
	s.giveUp(through, n, fmt.Errorf("first event %s older than %v: %w", b.events[0].ID, s.cfg.MaxAge, err))
}

// giveUp moves the cursor through Seq through past n events that were
// not delivered: the only way but a 2xx and the endpoint's filter to pass
// an event, so that none leaves without a log line, a metric and the
// outbox's audit entry.
func (s *sender) giveUp(through uint64, n int, why error) {
	now := s.cfg.Clock.Now()
	s.log.Error("webhook events given up", "events", n, "through_seq", through, "err", why)
	s.cfg.Metrics.settled(s.ep.Name, "given_up", n)
	persist := func(name string, through uint64) error { return s.cfg.Outbox.GiveUp(name, through, n) }
	s.advance(through, persist, func(st *Status) {
		st.LastError, st.LastErrorAt, st.Failures, st.NextAttempt = why.Error(), now, 0, time.Time{}
	})
}

func (s *sender) disable(err error) {
	reason := "receiver answered 410 Gone"
	s.log.Warn("webhook disabled", "err", err)
	if derr := s.cfg.Outbox.Disable(s.ep.Name, reason); derr != nil {
		s.log.Error("webhook disable not recorded", "err", derr)
	}
	s.record(func(st *Status) {
		st.Disabled, st.LastError, st.LastErrorAt, st.NextAttempt = reason, err.Error(), s.cfg.Clock.Now(), time.Time{}
	})
}

// advance moves the cursor through Seq through and records it with
// persist. A failed record is only logged: the persisted cursor lags, so a
// restart sends those events again, which at-least-once allows. The status
// takes the cursor and settle's changes in one step, so that no reader sees
// a batch half settled (see the package doc).
func (s *sender) advance(through uint64, persist func(endpoint string, through uint64) error, settle func(*Status)) {
	if err := persist(s.ep.Name, through); err != nil {
		s.log.Error("webhook cursor not recorded", "through_seq", through, "err", err)
	}
	s.cursor = through
	s.record(func(st *Status) {
		st.Cursor = through
		if settle != nil {
			settle(st)
		}
	})
}

// backoff is the wait before retry number failures: uniformly random
// between MinBackoff and a ceiling that doubles from MinBackoff to
// MaxBackoff ("full jitter" above a floor).
func (s *sender) backoff(failures int) time.Duration {
	ceil := s.cfg.MaxBackoff
	if shift := failures - 1; shift < 30 {
		ceil = min(ceil, s.cfg.MinBackoff<<shift)
	}
	if ceil <= s.cfg.MinBackoff {
		return s.cfg.MinBackoff
	}
	return s.cfg.MinBackoff + rand.N(ceil-s.cfg.MinBackoff+1)
}

// idle waits for a wake-up, the poll, or the end.
func (s *sender) idle(ctx context.Context) {
	t := s.cfg.Clock.TimerAt(s.cfg.Clock.Now().Add(s.cfg.Poll))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.notify:
	case <-t.C():
	}
}

// sleep waits until at; it reports false if ctx ended first.
func (s *sender) sleep(ctx context.Context, at time.Time) bool {
	t := s.cfg.Clock.TimerAt(at)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (s *sender) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sender) record(f func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
}

func (s *sender) snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func oldest(events []Event) time.Time {
	t := events[0].Time
	for _, e := range events[1:] {
		if e.Time.Before(t) {
			t = e.Time
		}
	}
	return t
}

// noRedirect keeps the client on the first response: a webhook that
// moved must be changed by its operator, not followed to wherever a
// receiver points (possibly inside the relay's own network).
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
