package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// DispatcherConfig sets the delivery policy. Zero values take the defaults.
type DispatcherConfig struct {
	Concurrency int           // deliveries at once; 0 = 16
	MaxAge      time.Duration // give up on a message this long after it was received; 0 = 120h
	RetryMin    time.Duration // first retry delay; 0 = 1m
	RetryMax    time.Duration // longest retry delay; 0 = 1h
	Retention   time.Duration // keep finished records this long; 0 = 168h
}

func (c *DispatcherConfig) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.MaxAge == 0 {
		c.MaxAge = 120 * time.Hour
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Minute
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 168 * time.Hour
	}
}

// Dispatcher releases messages at their release time and delivers them.
type Dispatcher struct {
	cfg       DispatcherConfig
	spool     *spool.Spool
	transport upstream.Transport
	clock     clock.Clock
	log       *slog.Logger

	wake  chan struct{} // something became due sooner than the loop thought
	freed chan struct{} // a delivery slot came free
	busy  int           // deliveries running; owned by the Run goroutine
	wg    sync.WaitGroup
}

// NewDispatcher builds a dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig, sp *spool.Spool, t upstream.Transport, clk clock.Clock, log *slog.Logger) *Dispatcher {
	cfg.setDefaults()
	return &Dispatcher{
		cfg: cfg, spool: sp, transport: t, clock: clk, log: log,
		wake:  make(chan struct{}, 1),
		freed: make(chan struct{}, cfg.Concurrency),
	}
}

// Notify tells the dispatcher that a message is due at release. It never
// blocks: a wake-up already pending covers this one.
func (d *Dispatcher) Notify(time.Time) {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then stops claiming and waits for the
// deliveries in flight. When drain is done first, those deliveries are
// cancelled (aborted before the end of data) and their messages deferred
// to be retried at once after a restart.
func (d *Dispatcher) Run(ctx context.Context, drain context.Context) error {
	deliveries, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.loop(ctx, deliveries)
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-drain.Done():
		cancel()
		<-done
	}
	return nil
}

func (d *Dispatcher) loop(ctx, deliveries context.Context) {
	janitor := d.clock.Now()
	for {
		claimedAll, err := d.claim(deliveries)
		if err != nil {
			d.log.Error("claim failed", "err", err)
		}
		if now := d.clock.Now(); !now.Before(janitor) {
			d.expire(now)
			janitor = now.Add(time.Minute)
		}
		var timer clock.Timer
		switch {
		case err != nil:
			timer = d.clock.TimerAt(d.clock.Now().Add(time.Second))
		case claimedAll:
			if at, ok, _ := d.spool.NextDue(); ok {
				timer = d.clock.TimerAt(minTime(at, janitor))
			} else {
				timer = d.clock.TimerAt(janitor)
			}
		}
		// With every slot busy, only a freed slot matters (timer is nil).
		var fired <-chan time.Time
		if timer != nil {
			fired = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-d.freed:
			d.busy--
		case <-d.wake:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// claim starts deliveries for due messages while slots are free. It
// reports whether it took everything that was due (so the loop may sleep
// until the next release), or stopped for want of a slot.
func (d *Dispatcher) claim(ctx context.Context) (bool, error) {
	for {
		for drained := false; !drained; {
			select {
			case <-d.freed:
				d.busy--
			default:
				drained = true
			}
		}
		free := d.cfg.Concurrency - d.busy
		if free == 0 {
			return false, nil
		}
		claimed, err := d.spool.Claim(d.clock.Now(), free)
		if err != nil {
			return true, err
		}
		for _, c := range claimed {
			d.busy++
			d.wg.Add(1)
			go d.deliver(ctx, c)
		}
		if len(claimed) < free {
			return true, nil
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, c spool.Claimed) {
	defer func() {
		d.freed <- struct{}{}
		d.wg.Done()
	}()
	env := upstream.Envelope{ID: c.ID.String(), From: c.From, To: c.Pending()}
	outs := d.transport.Deliver(ctx, env, c.Body)
	o := judge(c.Message, outs, d.clock.Now(), d.cfg)
	m, err := d.spool.Finish(c.ID, o)
	if err != nil {
		// The message stays sending until the next start requeues it.
		d.log.Error("recording delivery outcome failed", "id", c.ID, "err", err)
		return
	}
	attrs := []any{"id", m.ID, "state", m.State, "attempt", m.Attempts}
	if m.LastError != "" {
		attrs = append(attrs, "last_error", m.LastError)
	}
	if m.State == spool.Deferred {
		attrs = append(attrs, "retry", m.Release)
	}
	d.log.Info("delivery attempt", attrs...)
}

func (d *Dispatcher) expire(now time.Time) {
	for {
		n, err := d.spool.Expire(now.Add(-d.cfg.Retention))
		if err != nil {
			d.log.Error("expiring finished records failed", "err", err)
			return
		}
		if n == 0 {
			return
		}
		d.log.Debug("expired finished records", "count", n)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
