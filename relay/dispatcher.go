package relay

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// DispatcherConfig sets the delivery policy. Zero values take the defaults.
type DispatcherConfig struct {
	Concurrency int           // deliveries at once; 0 = 32
	MaxAge      time.Duration // give up on a message this long after it was received; 0 = 120h
	RetryMin    time.Duration // first retry delay; 0 = 1m
	RetryMax    time.Duration // longest retry delay; 0 = 1h
	Retention   time.Duration // keep finished records this long; 0 = 168h
	// EventMaxAge is --webhook-max-age: outbox events a webhook still
	// wants are kept this long (and an hour more, so that the webhook's
	// last attempt and give-up come first); 0 = 72h.
	EventMaxAge time.Duration
	Metrics     *Metrics // counts attempts by outcome, when set
	// Fallback is --upstream-fallback: the upstream an attempt turns to
	// when the primary answers 4xx or cannot be reached (see Route);
	// nil: none.
	Fallback upstream.Transport
	// Routes returns a credential's own upstreams; nil: no credential
	// has any. It is called for every attempt, so that a changed URL
	// takes effect with the next one.
	Routes func(credential string) Route
	// Upstream builds the transports of the credentials' own URLs.
	Upstream upstream.Options
	// Signer signs each message just before the transport gets it
	// (DKIM, see sign.go); nil sends messages as they are.
	Signer Signer
	// Bounces sends the sender of a message that fails for good a
	// delivery status notification (see bounce.go); Hostname names
	// this relay in it.
	Bounces  bool
	Hostname string
}

func (c *DispatcherConfig) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 32
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
	if c.EventMaxAge == 0 {
		c.EventMaxAge = 72 * time.Hour
	}
}

// Dispatcher releases messages at their release time and delivers them.
type Dispatcher struct {
	cfg       DispatcherConfig
	spool     *spool.Spool
	transport upstream.Transport
	clock     clock.Clock
	log       *slog.Logger
	// upstreams holds the transports of the credentials' own URLs.
	upstreams  *upstream.Set
	breakersMu sync.Mutex
	breakers   map[string]*breaker // by the primary's description

	wake  chan struct{} // something became due sooner than the loop thought
	freed chan struct{} // a delivery slot came free
	busy  int           // slots delivering; owned by the Run goroutine
	wg    sync.WaitGroup
	// claiming is the Run context: once it is done, a slot that ends an
	// attempt takes no next message.
	claiming context.Context
	// sleeping is true while the loop waits; tests use it to know the
	// dispatcher has seen everything it was told.
	sleeping atomic.Bool
	// wakeAt is when the sleeping loop will look at the spool again anyway
	// (unix nanoseconds; 0 while it is awake, MaxInt64 while every slot is
	// busy), so that Notify wakes it only for something due sooner: an
	// accept with a hold window does not cost a spool transaction.
	wakeAt atomic.Int64
	// idle is true once the loop has closed the upstream's idle sessions
	// for want of work; the next claim clears it.
	idle bool
	// expireEvents asks the outbox expiry goroutine for a round, with
	// its cutoff; a round still running covers a request dropped here.
	expireEvents chan time.Time
	// beforeExpireStep, when set (by tests), runs before each chunk of the
	// outbox expiry.
	beforeExpireStep atomic.Pointer[func()]

	// mu guards inflight. A claim registers its flights inside its
	// transaction, before the commit (see register), so that Abort never
	// misses a message the spool already shows sending; no lock is held
	// across a commit.
	mu       sync.Mutex
	inflight map[spool.ID]*flight
}

// flight is one delivery attempt in progress.
type flight struct {
	ctx         context.Context // the transfer's: Abort cancels it
	cancel      context.CancelFunc
	transferred chan struct{} // closed when the transport has returned
	done        chan struct{} // closed after the outcome is in the spool
}

// abortReplyWait bounds how long Abort waits for a transfer to end. A
// cancelled transfer ends at once unless its end-of-data dot is out: then
// only the upstream's reply, up to the transport's timeout (5 minutes by
// default), can say whether it took the message, and an operator must not
// be kept waiting that long without an answer.
const abortReplyWait = 10 * time.Second

// NewDispatcher builds a dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig, sp *spool.Spool, t upstream.Transport, clk clock.Clock, log *slog.Logger) *Dispatcher {
	cfg.setDefaults()
	d := &Dispatcher{
		cfg: cfg, spool: sp, transport: t, clock: clk, log: log,
		upstreams:    upstream.NewSet(cfg.Upstream),
		breakers:     map[string]*breaker{},
		wake:         make(chan struct{}, 1),
		freed:        make(chan struct{}, cfg.Concurrency),
		inflight:     map[spool.ID]*flight{},
		expireEvents: make(chan time.Time, 1),
	}
	if sp != nil {
		sp.Running(d.running) // a shared spool's orphans: see spool.Running
	}
	return d
}

// running reports whether an attempt of id is registered here.
func (d *Dispatcher) running(id spool.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[id] != nil
}

// Abort cancels the delivery attempts of ids that are in progress and
// waits until each has recorded its outcome. A transfer cancelled before
// the end-of-data dot never reaches the upstream; one past it waits for
// the upstream's answer, so the outcome in the spool is the truth. That
// wait lasts at most abortReplyWait: Abort then returns nil with the
// message still sending, so that the caller reports it in flight, its
// outcome unknown until the upstream answers; the spool carries out the
// operator's intent then.
func (d *Dispatcher) Abort(ctx context.Context, ids []spool.ID) error {
	d.mu.Lock()
	var flights []*flight
	for _, id := range ids {
		if f := d.inflight[id]; f != nil {
			f.cancel()
			flights = append(flights, f)
		}
	}
	d.mu.Unlock()
	if err := d.awaitTransfers(ctx, flights); err != nil {
		return err
	}
	left := 0
	for _, f := range flights {
		if !isClosed(f.transferred) {
			left++ // past the dot and unanswered: left in flight
			continue
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if left > 0 {
		d.log.Warn("aborted deliveries still wait for the upstream's reply to the end of data; "+
			"that reply will settle them", "in_flight", left, "waited", abortReplyWait)
	}
	return nil
}

// awaitTransfers waits until the transfers of flights are over, for
// abortReplyWait at most.
func (d *Dispatcher) awaitTransfers(ctx context.Context, flights []*flight) error {
	if len(flights) == 0 {
		return nil
	}
	timer := d.clock.TimerAt(d.clock.Now().Add(abortReplyWait))
	defer timer.Stop()
	for _, f := range flights {
		select {
		case <-f.transferred:
		case <-timer.C():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Notify tells the dispatcher that a message is due at release (a time of
// the dispatcher's clock). It never blocks: a wake-up already pending, or
// one the loop has planned for no later than release, covers this one.
func (d *Dispatcher) Notify(release time.Time) {
	if at := d.wakeAt.Load(); at != 0 && release.UnixNano() >= at {
		return
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then stops claiming and waits for the
// deliveries in flight. When drain is done first, those deliveries are cut
// at once: one before its end-of-data dot is aborted and deferred, due
// again at once; one past its dot, whose reply the upstream withholds, is
// left sending, as a crash would leave it, and the next start queues it
// again as interrupted (the upstream may have it).
func (d *Dispatcher) Run(ctx context.Context, drain context.Context) error {
	deliveries, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.claiming = ctx
	// Outbox expiry has its own goroutine: after a bulk action it may
	// delete a hundred thousand events, and a flush must not wait for that.
	expiring := make(chan struct{})
	go func() {
		defer close(expiring)
		d.runEventExpiry(ctx)
	}()
	defer func() { <-expiring }() // no write after Run returns: the spool may close
	go d.watchCuts(deliveries)
	d.loop(ctx, deliveries)
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-drain.Done():
		cancel() // first, so that no delivery reaches its dot after the cut
		for _, t := range []upstream.Transport{d.transport, d.cfg.Fallback} {
			if i, ok := t.(upstream.Interrupter); ok {
				i.Interrupt()
			}
		}
		d.upstreams.Interrupt()
		<-done
	}
	d.closeIdle()
	return nil
}

// clusterLook is the longest the loop sleeps on a spool shared with other
// nodes.
const clusterLook = time.Second

// watchCuts aborts the deliveries that operators on other nodes dropped or
// held, as Abort does for this node's own, until ctx ends. Each Abort
// waits for its outcomes on its own, so that a slow one holds up neither
// the next cut nor the loop. On a spool of one node there are none.
func (d *Dispatcher) watchCuts(ctx context.Context) {
	cuts := d.spool.Cuts()
	if cuts == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ids, ok := <-cuts:
			if !ok {
				return
			}
			go func() {
				if err := d.Abort(ctx, ids); err != nil && ctx.Err() == nil {
					d.log.Warn("aborting deliveries cut on another node failed", "messages", len(ids), "err", err)
				}
			}()
		}
	}
}

// closeIdle lets go of the upstream sessions kept for reuse, and of the
// credentials' transports.
func (d *Dispatcher) closeIdle() {
	for _, t := range []upstream.Transport{d.transport, d.cfg.Fallback} {
		if c, ok := t.(upstream.IdleCloser); ok {
			c.CloseIdle()
		}
	}
	d.upstreams.Forget(time.Time{})
}

func (d *Dispatcher) loop(ctx, deliveries context.Context) {
	janitor := d.clock.Now()
	for {
		// One instant per round: claims and the sleep that follows must
		// agree on what is due, even if the clock moves in between.
		now := d.clock.Now()
		if !now.Before(janitor) {
			d.expire(now)
			// A credential whose URL changed under steady traffic leaves
			// its old transport unused: let go of it.
			d.upstreams.Forget(now.Add(-time.Minute))
			janitor = now.Add(time.Minute)
		}
		janitor = minTime(janitor, d.endPauses(now))
		took, claimedAll, err := d.claim(deliveries, now)
		if err != nil {
			d.log.Error("claim failed", "err", err)
		}
		var timer clock.Timer
		wakeAt := int64(math.MaxInt64) // every slot busy: only a freed slot matters
		switch {
		case err != nil:
			timer = d.clock.TimerAt(now.Add(time.Second))
			wakeAt = 0
		case claimedAll:
			wake := janitor
			if at, ok, _ := d.spool.NextDue(); ok {
				// Due messages that could not be claimed (a pause covers
				// them until it holds them) are looked at again in a
				// second, not in a hot loop.
				if !at.After(now) && took == 0 {
					at = now.Add(time.Second)
				}
				wake = minTime(at, janitor)
			}
			if d.spool.Clustered() {
				// Other nodes add due mail, and requeue a dead node's,
				// without waking this one.
				wake = minTime(wake, now.Add(clusterLook))
			}
			timer = d.clock.TimerAt(wake)
			wakeAt = wake.UnixNano()
		}
		if d.busy == 0 && took == 0 && !d.idle {
			// Nothing to deliver: kept upstream sessions would only wait
			// for the upstream to time them out.
			d.closeIdle()
			d.idle = true
		}
		var fired <-chan time.Time
		if timer != nil {
			fired = timer.C()
		}
		d.wakeAt.Store(wakeAt)
		d.sleeping.Store(true)
		select {
		case <-ctx.Done():
		case <-d.freed:
			d.busy--
		case <-d.wake:
		case <-fired:
		}
		d.sleeping.Store(false)
		d.wakeAt.Store(0)
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// claim starts deliveries for due messages while slots are free. It
// reports how many it took, and whether it took everything it could (so
// the loop may sleep until the next release) or stopped for want of a slot.
// A slot keeps itself busy after that: the transaction that records an
// attempt's outcome claims the slot's next message (see carry).
func (d *Dispatcher) claim(ctx context.Context, now time.Time) (took int, claimedAll bool, err error) {
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
			return took, false, nil
		}
		if at, ok, err := d.spool.NextDue(); err != nil || !ok || at.After(now) {
			// Nothing is due: a read says so without the write
			// transaction (and its fsync) a claim costs.
			return took, true, err
		}
		reg := d.registrar(ctx)
		var claimed []spool.Claimed
		claimed, err = d.spool.ClaimWith(now, free, reg.register)
		for i, f := range reg.settle(claimed, err) {
			d.busy++
			d.wg.Add(1)
			go d.slot(ctx, claimed[i], f)
		}
		took += len(claimed)
		if len(claimed) > 0 {
			d.idle = false
		}
		if err != nil {
			return took, true, err
		}
		if len(claimed) < free {
			return took, true, nil
		}
	}
}

// registrar registers the flights of one claim's messages inside its
// transaction, which may run more than once or fail.
type registrar struct {
	d       *Dispatcher
	ctx     context.Context // the deliveries context the flights derive from
	flights map[spool.ID]*flight
}

func (d *Dispatcher) registrar(ctx context.Context) *registrar {
	return &registrar{d: d, ctx: ctx}
}

// register is the spool's claim hook. A flight it already made for id
// (the transaction running again) stands; one of an attempt of id that
// has ended but not yet unregistered is replaced, and its owner leaves
// the new one alone (see unregister).
func (r *registrar) register(id spool.ID) {
	if r.flights[id] != nil {
		return
	}
	if r.flights == nil {
		r.flights = map[spool.ID]*flight{}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	f := &flight{ctx: ctx, cancel: cancel, transferred: make(chan struct{}), done: make(chan struct{})}
	r.flights[id] = f
	r.d.mu.Lock()
	r.d.inflight[id] = f
	r.d.mu.Unlock()
}

// settle returns the flights of claimed, in its order, once the claim's
// transaction is over, and ends every other flight it registered: those
// of a run of the transaction that did not commit. err is the claim's:
// when it failed, nothing was claimed.
func (r *registrar) settle(claimed []spool.Claimed, err error) []*flight {
	if err != nil {
		claimed = nil
	}
	out := make([]*flight, len(claimed))
	for i, c := range claimed {
		out[i] = r.flights[c.ID]
		delete(r.flights, c.ID)
	}
	for id, f := range r.flights {
		close(f.transferred)
		r.d.unregister(id, f)
	}
	return out
}

// unregister ends flight f of id: Abort no longer finds it, and whoever
// waits for it is let go.
func (d *Dispatcher) unregister(id spool.ID, f *flight) {
	d.mu.Lock()
	if d.inflight[id] == f {
		delete(d.inflight, id)
	}
	d.mu.Unlock()
	f.cancel()
	close(f.done)
}

// slot delivers c, then each message the recording of an outcome claims
// next, until there is none; then it frees its slot. stop is the
// dispatcher's deliveries context: only the shutdown ends it.
func (d *Dispatcher) slot(stop context.Context, c spool.Claimed, f *flight) {
	defer func() {
		d.freed <- struct{}{}
		d.wg.Done()
	}()
	for ok := true; ok; {
		c, f, ok = d.deliver(stop, c, f)
	}
}

// deliver runs one attempt and returns the message its slot claimed next,
// if any. f.ctx is the flight's: an operator's abort or the shutdown cuts
// the transfer with it. Recording the outcome goes on until stop ends,
// not f.ctx: an abort must wait for the outcome (the upstream may have
// taken the message), never cut its recording.
func (d *Dispatcher) deliver(stop context.Context, c spool.Claimed, f *flight) (spool.Claimed, *flight, bool) {
	defer d.unregister(c.ID, f)
	ctx := f.ctx
	env := upstream.Envelope{ID: c.ID.String(), From: c.From, To: c.Pending()}
	if d.spool.Clustered() {
		// A drop on another node wins if it commits before this gate.
		// A refusal is a cancellation, as the local abort is: the
		// outcome must not count as a failure (an Intent to hold on a
		// last attempt would otherwise fail and bounce the message).
		env.BeforeDot = func() error {
			err := d.spool.PassDot(c.ID, c.Attempts)
			if err != nil {
				f.cancel()
			}
			return err
		}
	}
	c.Body = d.sign(c) // DKIM: the message as every upstream of its route gets it
	outs, via := d.send(ctx, c, env)
	close(f.transferred)
	if stop.Err() != nil && slices.ContainsFunc(outs, func(o upstream.Outcome) bool { return o.Unknown }) {
		// The shutdown cut it past the dot: whether the upstream took it
		// is unknown, which is what a crash leaves, so leave it as a crash
		// does. The next start queues it again, marked interrupted.
		d.log.Warn("delivery cut by the shutdown before the upstream answered the end of data; "+
			"queued again at the next start", "id", c.ID)
		return spool.Claimed{}, nil, false
	}
	now := d.clock.Now()
	cfg := d.cfg
	cancelled := ctx.Err() != nil
	if cancelled {
		cfg.MaxAge = math.MaxInt64 // an attempt we cut short is no reason to give up
	}
	o := judge(c.Message, outs, now, cfg)
	o.Attempt = c.Attempts
	o.Upstream = via
	d.addBounce(&o, c)
	if cancelled && o.State == spool.Deferred {
		// Shutdown or an operator cut it short: due again at once (an
		// operator's drop or hold is carried out by Finish).
		o.Retry = now
	}
	m, next, nf, err := d.finish(stop, c.ID, o) // tries again while the disk is full
	if err != nil {
		// The message stays sending until the next start requeues it.
		d.log.Error("recording delivery outcome failed", "id", c.ID, "err", err)
		return spool.Claimed{}, nil, false
	}
	d.recorded(m, via)
	return next, nf, nf != nil
}

// recorded tells the loop, the metrics and the log of an outcome.
func (d *Dispatcher) recorded(m spool.Message, via string) {
	if m.State == spool.Deferred || m.State == spool.Queued {
		// The loop may have planned its sleep without this release time.
		d.Notify(m.Release)
	}
	d.cfg.Metrics.attempt(m.State.String())
	if m.DSN != 0 {
		d.cfg.Metrics.bounced()
		d.Notify(d.clock.Now()) // the DSN is due at once
	}
	attrs := []any{"id", m.ID, "state", m.State, "attempt", m.Attempts, "upstream", via}
	if m.LastError != "" {
		attrs = append(attrs, "last_error", m.LastError)
	}
	if m.DSN != 0 {
		attrs = append(attrs, "dsn", m.DSN)
	}
	if m.State == spool.Deferred {
		attrs = append(attrs, "retry", m.Release)
	}
	d.log.Info("delivery attempt", append(attrs, metaAttrs(&m)...)...)
}

// endPauses resumes the pauses whose time is up and returns when the
// next one ends (far in the future if none will).
func (d *Dispatcher) endPauses(now time.Time) time.Time {
	next := now.Add(24 * time.Hour)
	pauses, err := d.spool.Pauses()
	if err != nil {
		d.log.Error("reading pauses failed", "err", err)
		return next
	}
	for _, p := range pauses {
		switch {
		case p.Until.IsZero():
		case p.Until.After(now):
			next = minTime(next, p.Until)
		default:
			d.endPause(p.Credential, now)
		}
	}
	return next
}

// endPause resumes an expired pause. An expiry is a change like any
// resume, audited as the admin API audits one: the entry is written as
// incomplete in the transaction that ends the pause, and completed once
// its messages are released, so that a release cut short says so.
func (d *Dispatcher) endPause(cred string, now time.Time) {
	sel := "all"
	if cred != "" {
		sel = "credential=" + cred
	}
	rec := &spool.AuditEntry{Time: now, Actor: "system", Action: "resume (incomplete)", Selector: sel, Reason: "pause expired"}
	n, err := d.spool.ResumeRecorded(cred, spool.Event{Time: now, Actor: "system", Reason: "pause expired", Audit: rec})
	if err == nil {
		rec.Action = "resume"
		if err := d.spool.PutAudit(rec); err != nil {
			d.log.Error("audit entry not completed", "action", rec.Action, "seq", rec.Seq, "err", err)
		}
	}
	if err != nil {
		d.log.Error("ending a pause failed", "credential", cred, "err", err)
		return
	}
	d.log.Info("pause expired", "credential", cred, "released", n)
}

func (d *Dispatcher) expire(now time.Time) {
	select {
	case d.expireEvents <- now.Add(-d.cfg.EventMaxAge - time.Hour):
	default:
	}
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

// runEventExpiry deletes the outbox events no webhook needs any more, a
// round each time the loop asks, until ctx ends.
func (d *Dispatcher) runEventExpiry(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case cutoff := <-d.expireEvents:
			d.expireEventRound(ctx, cutoff)
		}
	}
}

// expireEventRound deletes them a bounded transaction at a time (see
// spool.ExpireEvents), so that the writes of deliveries and operators
// get their turns in between.
func (d *Dispatcher) expireEventRound(ctx context.Context, cutoff time.Time) {
	for ctx.Err() == nil {
		if f := d.beforeExpireStep.Load(); f != nil {
			(*f)()
		}
		n, err := d.spool.ExpireEvents(cutoff)
		if err != nil {
			d.log.Error("expiring outbox events failed", "err", err)
			return
		}
		if n == 0 {
			return
		}
		d.log.Debug("expired outbox events", "count", n)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
