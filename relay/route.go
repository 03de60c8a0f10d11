package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// Route names a credential's own upstreams, as URLs: "" for relayd's
// global one (--upstream, --upstream-fallback).
type Route struct {
	Primary  string
	Fallback string
}

// A message's route is its credential's primary upstream, else the
// global one, and its credential's fallback, else the global one. Every
// attempt tries the primary first, so that mail goes back through it as
// soon as it answers again; the fallback gets, in the same attempt, the
// recipients the primary deferred without taking the message:
//
//   - a 4xx reply, or no reply at all (refused or failed connection, TLS
//     or AUTH trouble): the primary cannot take it now, the fallback may;
//   - a 5xx reply is final: a message the primary refused for good is not
//     offered elsewhere (SendGrid does not either), or a refusal for
//     content would become a delivery by a laxer provider;
//   - an end-of-data dot left unanswered (Outcome.Unknown) is not sent
//     again elsewhere: the primary may have it, and the message is marked
//     interrupted as after a crash;
//   - an attempt cut short by a drop, a hold or the shutdown stops there.
//
// A primary that could not be reached breakerTrips times in a row is
// skipped for breakerPause while a fallback exists, so that a dead primary
// does not cost a dial timeout per message; one attempt after that pause
// probes it again.
const (
	breakerTrips = 3
	breakerPause = 30 * time.Second
)

// route is one attempt's pair of transports.
type route struct {
	primary, fallback upstream.Transport
	release           []func(time.Time)
}

// routeFor resolves cred's route. Credential URLs were checked when they
// were set; one that no longer builds (a later relayd refusing it) fails
// the attempt for a retry rather than sending mail elsewhere.
func (d *Dispatcher) routeFor(cred string) (route, error) {
	r := route{primary: d.transport, fallback: d.cfg.Fallback}
	if cred == "" || d.cfg.Routes == nil {
		return r, nil
	}
	own := d.cfg.Routes(cred)
	for _, p := range []struct {
		url string
		t   *upstream.Transport
	}{{own.Primary, &r.primary}, {own.Fallback, &r.fallback}} {
		if p.url == "" {
			continue
		}
		t, release, err := d.upstreams.Acquire(p.url)
		if err != nil {
			r.done(d.clock.Now())
			return route{}, fmt.Errorf("credential %s: %w", cred, err)
		}
		*p.t = t
		r.release = append(r.release, release)
	}
	return r, nil
}

func (r route) done(now time.Time) {
	for _, f := range r.release {
		f(now)
	}
}

// send makes one attempt along c's route and returns the outcomes with
// the upstream that gave the last answer (see Route for when the
// fallback is tried).
func (d *Dispatcher) send(ctx context.Context, c spool.Claimed, env upstream.Envelope) ([]upstream.Outcome, string) {
	r, err := d.routeFor(c.Credential)
	if err != nil {
		d.log.Error("no route for a message", "id", c.ID, "err", err)
		return failAll(env.To, "no usable upstream for credential "+c.Credential), ""
	}
	defer func() { r.done(d.clock.Now()) }() // when the attempt ends, not when it began
	var outs []upstream.Outcome
	via := r.primary.String()
	if r.fallback != nil && d.breaker(via).open(d.clock.Now()) {
		outs = failAll(env.To, "primary upstream "+via+" skipped: unreachable "+fmt.Sprint(breakerTrips)+" times in a row")
	} else {
		outs = r.primary.Deliver(ctx, env, c.Body)
		d.breaker(via).record(outs, ctx.Err() != nil, d.clock.Now())
	}
	if r.fallback == nil || ctx.Err() != nil {
		return outs, via
	}
	retry := fallBackRcpts(outs)
	if len(retry) == 0 {
		return outs, via
	}
	fb := r.fallback.String()
	d.log.Info("primary upstream deferred; trying the fallback", "id", c.ID, "primary", via,
		"reply", primaryReply(outs), "fallback", fb, "recipients", len(retry))
	fouts := r.fallback.Deliver(ctx, upstream.Envelope{ID: env.ID, From: env.From, To: retry, BeforeDot: env.BeforeDot}, c.Body)
	return mergeFallback(outs, fouts, via), fb
}

// fallBackRcpts lists the recipients the fallback should get: those the
// primary deferred, unless it may have taken the message (an unanswered
// dot), in which case none.
func fallBackRcpts(outs []upstream.Outcome) []string {
	var rcpts []string
	for _, o := range outs {
		if o.Unknown {
			return nil
		}
		if !o.Delivered() && !o.Permanent() {
			rcpts = append(rcpts, o.Rcpt)
		}
	}
	return rcpts
}

// mergeFallback puts the fallback's answers in place of the primary's; a
// recipient the fallback did not take keeps, in its reply, why the
// primary did not either.
func mergeFallback(outs, fouts []upstream.Outcome, primary string) []upstream.Outcome {
	byRcpt := make(map[string]upstream.Outcome, len(fouts))
	for _, o := range fouts {
		byRcpt[o.Rcpt] = o
	}
	merged := append([]upstream.Outcome(nil), outs...)
	for i, o := range merged {
		f, ok := byRcpt[o.Rcpt]
		if !ok {
			continue
		}
		if !f.Delivered() {
			f.Message += " (primary " + primary + ": " + reply(o) + ")"
		}
		merged[i] = f
	}
	return merged
}

// primaryReply is the first deferral's reply, for the log.
func primaryReply(outs []upstream.Outcome) string {
	for _, o := range outs {
		if !o.Delivered() && !o.Permanent() {
			return reply(o)
		}
	}
	return ""
}

// failAll is a temporary failure of every recipient, with no reply.
func failAll(to []string, msg string) []upstream.Outcome {
	outs := make([]upstream.Outcome, len(to))
	for i, rcpt := range to {
		outs[i] = upstream.Outcome{Rcpt: rcpt, Message: msg}
	}
	return outs
}

// breaker counts a primary upstream's unreachable attempts in a row.
type breaker struct {
	mu        sync.Mutex
	fails     int
	openUntil time.Time
}

// breaker returns the breaker of the upstream described by name.
func (d *Dispatcher) breaker(name string) *breaker {
	d.breakersMu.Lock()
	defer d.breakersMu.Unlock()
	b := d.breakers[name]
	if b == nil {
		b = &breaker{}
		d.breakers[name] = b
	}
	return b
}

// open reports whether the primary is to be skipped at now. Once the
// pause is over, one attempt goes through as a probe, and the others
// keep skipping until it has its answer (record then closes the breaker
// or pauses again).
func (b *breaker) open(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails < breakerTrips {
		return false
	}
	if now.Before(b.openUntil) {
		return true
	}
	b.openUntil = now.Add(breakerPause) // the probe's turn
	return false
}

// record counts an attempt: one without any reply (and not cut short by
// us) is a failure to reach the upstream; any reply, even a refusal,
// shows it is there.
func (b *breaker) record(outs []upstream.Outcome, cancelled bool, now time.Time) {
	if cancelled {
		return
	}
	unreachable := true
	for _, o := range outs {
		if o.Code != 0 || o.Unknown {
			unreachable = false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !unreachable {
		b.fails, b.openUntil = 0, time.Time{}
		return
	}
	b.fails++
	if b.fails >= breakerTrips {
		b.openUntil = now.Add(breakerPause)
	}
}
