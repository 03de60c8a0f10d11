package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/clock"
)

// Outbox is the spool's event outbox as a sender sees it. Cursors are per
// endpoint: the Seq of the last event the endpoint is done with.
type Outbox interface {
	// Cursor returns the endpoint's cursor (0 for a new endpoint, or where
	// the spool wants a new endpoint to start).
	Cursor(endpoint string) (uint64, error)
	// Events returns up to max events with Seq > after, in Seq order.
	Events(after uint64, max int) ([]Event, error)
	// Ack records that the endpoint is done with every event through Seq
	// through: delivered, or not for it.
	Ack(endpoint string, through uint64) error
	// GiveUp moves the cursor through Seq through like Ack, for n events
	// given up undelivered: they outlived MaxAge, cannot be encoded, or
	// expired from the outbox before they were read. The spool audits it.
	GiveUp(endpoint string, through uint64, n int) error
	// Disable marks the endpoint disabled (its receiver answered 410).
	Disable(endpoint, reason string) error
}

// Config is a Manager's set-up. Zero fields take the defaults named.
type Config struct {
	Outbox     Outbox        // required
	Clock      clock.Clock   // clock.Real
	Log        *slog.Logger  // slog.Default()
	Metrics    *Metrics      // nil counts nothing
	Timeout    time.Duration // per attempt: 10s
	MaxAge     time.Duration // give up on events older than this: 72h
	MinBackoff time.Duration // first retry: 5s
	MaxBackoff time.Duration // longest wait between retries: 1h
	Poll       time.Duration // look at the outbox without Notify: 30s
	// Transport carries the requests; http.DefaultTransport's settings
	// when nil.
	Transport http.RoundTripper
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	defaultTo(&c.Timeout, 10*time.Second)
	defaultTo(&c.MaxAge, 72*time.Hour)
	defaultTo(&c.MinBackoff, 5*time.Second)
	defaultTo(&c.MaxBackoff, time.Hour)
	defaultTo(&c.Poll, 30*time.Second)
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
}

func defaultTo(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Manager runs one sender per enabled endpoint. Its methods are safe for
// concurrent use; endpoints added before Run start when Run does.
type Manager struct {
	cfg    Config
	client *http.Client

	mu      sync.Mutex
	ctx     context.Context // Run's, while it runs
	senders map[string]*sender
}

// NewManager returns a Manager; Run starts it.
func NewManager(cfg Config) *Manager {
	cfg.setDefaults()
	return &Manager{
		cfg:     cfg,
		client:  &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirect},
		senders: make(map[string]*sender),
	}
}

// Run delivers until ctx ends, then returns once every sender stopped. A
// Manager runs once.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	for _, s := range m.senders {
		m.start(s)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.ctx = nil
	stopping := make([]*sender, 0, len(m.senders))
	for _, s := range m.senders {
		stopping = append(stopping, s)
	}
	m.mu.Unlock()
	for _, s := range stopping {
		s.stop()
	}
}

// Set makes eps the endpoints: senders of endpoints not in eps stop, those
// of new or changed endpoints start afresh, the others carry on.
func (m *Manager) Set(eps []Endpoint) error {
	keep := make(map[string]bool, len(eps))
	for i := range eps {
		if err := eps[i].Validate(); err != nil {
			return fmt.Errorf("webhook %s: %w", eps[i].Name, err)
		}
		keep[eps[i].Name] = true
	}
	m.mu.Lock()
	var gone []string
	for name := range m.senders {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	m.mu.Unlock()
	for _, name := range gone {
		m.Remove(name)
	}
	for _, ep := range eps {
		m.put(ep)
	}
	return nil
}

// Add adds the endpoint, or replaces the one of the same name.
func (m *Manager) Add(ep Endpoint) error {
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("webhook %s: %w", ep.Name, err)
	}
	m.put(ep)
	return nil
}

// Remove stops the endpoint's sender and forgets it. When Remove returns,
// no request to the endpoint is in flight or will start.
func (m *Manager) Remove(name string) {
	m.mu.Lock()
	s := m.senders[name]
	delete(m.senders, name)
	m.mu.Unlock()
	if s != nil {
		s.stop()
	}
}

// Notify tells every sender that the outbox has new events. It never
// blocks.
func (m *Manager) Notify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.senders {
		s.wake()
	}
}

// Status returns what the endpoint's sender knows, and false for an
// endpoint the Manager does not have.
func (m *Manager) Status(name string) (Status, bool) {
	m.mu.Lock()
	s := m.senders[name]
	m.mu.Unlock()
	if s == nil {
		return Status{}, false
	}
	return s.snapshot(), true
}

// put installs a sender for ep unless an identical one is there. The old
// sender stops before the new one starts, so that the two never post the
// same batch at once.
func (m *Manager) put(ep Endpoint) {
	m.mu.Lock()
	old := m.senders[ep.Name]
	if old != nil && old.ep.equal(&ep) {
		m.mu.Unlock()
		return
	}
	s := &sender{
		ep: ep, cfg: &m.cfg, client: m.client,
		log:    m.cfg.Log.With("webhook", ep.Name),
		notify: make(chan struct{}, 1),
	}
	m.senders[ep.Name] = s
	m.mu.Unlock()
	if old != nil {
		old.stop()
	}
	m.mu.Lock()
	if m.ctx != nil && m.senders[ep.Name] == s {
		m.start(s)
	}
	m.mu.Unlock()
}

// start runs s unless its endpoint is disabled. m.mu is held.
func (m *Manager) start(s *sender) {
	if s.ep.Disabled || s.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(ctx)
}

// stop ends s and waits for it.
func (s *sender) stop() {
	if s.done == nil {
		return
	}
	s.cancel()
	<-s.done
}
