package relay

import (
	"container/list"
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// The runaway brake's detector (see the contract, "Runaway brake").
//
// It runs on the accept path, in Submit, before the spool transaction: it
// decides whether a message trips its credential's brake, and the spool
// writes the trip in the transaction that accepts that message. Two
// triggers, per credential:
//
//   - loop: one recipient gets the same content (Subject and body; so no
//     other header, not Date, Message-ID or a trace header, makes a copy
//     look new, nor the random MIME boundaries a mail library draws for
//     each copy: see digest) more than Duplicates times within loopWindow;
//   - rate: more than Rate messages within any rateWindow, not counting
//     those of a batch announced before its first message.
//
// # Memory
//
// Per credential, the rate table keeps the times of the counted messages
// of the last rateWindow, at most Rate+1 of them; the loop table keeps at
// most maxPairs (recipient, content) pairs, least recently seen evicted
// first, each with at most Duplicates+1 times. A credential idle for
// loopWindow is forgotten. So the detector holds at most, per active
// credential, (Rate+1) + maxPairs*(Duplicates+1) times of 8 bytes plus
// about 100 bytes of overhead per pair, and as much again for the
// table of recipient lists: under 2.6 MiB at the defaults
// with every table full, and the rate table alone never more than the
// messages a credential really sent in the last minute. Whatever the
// thresholds, no table holds more times than the credential's messages
// (per recipient) of the last loopWindow: the bounds above cap that
// further, never the other way round.
//
// Eviction cannot hide a loop of single-recipient messages at the
// defaults: to push a looping pair out before it repeats, a credential
// must send maxPairs (8,192) other pairs in between, and within
// loopWindow that is more than 6,000 messages, which the rate trigger
// (600 a minute) stops first. Multi-recipient messages could hide
// one: each recipient is a pair, so a job that mails the same message
// to a list of more than maxPairs addresses (83 messages of 100
// recipients) every minute or two would cycle the pair table without one
// pair ever repeating in it, at a rate the rate trigger (which counts
// messages) lets through. So a message of several recipients is also
// counted as one (recipient list, content) entry in a second table of
// the same bound: when a list gets the same content more than N times,
// each of its recipients did. To evict from that table a credential
// must send maxPairs distinct messages, which the rate trigger stops
// first. What remains open: a list reshuffled into other messages on
// each run, with the rate trigger off or very high or inside an
// announced batch. That is the price of bounded memory.
//
// Counters live in memory only: a restart starts them afresh (a braked
// credential stays braked; that is the spool's record). Mail from a
// trusted-network client that did not log in has no credential to brake,
// to name or to release, and is not watched.
const (
	loopWindow = 10 * time.Minute
	rateWindow = time.Minute
	maxPairs   = 8192
	// maxAnnounced bounds the cache of batch answers; it is emptied
	// when full.
	maxAnnounced = 4096
)

// BrakeConfig holds the brake's global thresholds; 0 turns a trigger off.
// A credential's own settings (auth.Credential) take precedence.
type BrakeConfig struct {
	Duplicates int // loop trigger: copies to one recipient within 10 minutes
	Rate       int // rate trigger: messages within 60 seconds
}

// DefaultBrake is the contract's default.
var DefaultBrake = BrakeConfig{Duplicates: 5, Rate: 600}

type detector struct {
	cfg  BrakeConfig
	seed maphash.Seed

	mu        sync.Mutex
	creds     map[string]*credWatch
	announced map[string]bool // batch ID -> announced, for batches that exist
	swept     time.Time
}

// credWatch is one credential's tables.
type credWatch struct {
	rate    []int64   // unix nanoseconds of the counted messages of the last rateWindow, oldest first
	pairs   pairTable // (recipient, content)
	lists   pairTable // (recipient list, content), for messages of several recipients
	tripped bool      // stop counting until Reset
	last    time.Time
}

// pairTable holds at most maxPairs keys' recent times, least recently
// seen evicted first.
type pairTable struct {
	keys map[uint64]*list.Element
	lru  *list.List // of *pairTimes, most recently seen at the back
}

func newPairTable() pairTable {
	return pairTable{keys: map[uint64]*list.Element{}, lru: list.New()}
}

// Times in the tables are unix nanoseconds: a third of a time.Time.

type pairTimes struct {
	key   uint64
	times []int64 // unix nanoseconds within loopWindow, oldest first
}

func newDetector(cfg BrakeConfig) *detector {
	return &detector{cfg: cfg, seed: maphash.MakeSeed(), creds: map[string]*credWatch{}, announced: map[string]bool{}}
}

// thresholds are cred's own, else the global ones.
func (d *detector) thresholds(c *auth.Credential) (dup, rate int) {
	dup, rate = d.cfg.Duplicates, d.cfg.Rate
	if c.BrakeDuplicates != nil {
		dup = *c.BrakeDuplicates
	}
	if c.BrakeRate != nil {
		rate = *c.BrakeRate
	}
	return dup, rate
}

// observation is one message as the detector sees it.
type observation struct {
	cred    *auth.Credential
	to      []string
	subject string
	digest  uint64
	counted bool // toward the rate: not in an announced batch
}

// observe counts o at now and returns the trip it causes, if any. After a
// trip the credential is not counted until reset (or untrip, if the trip
// was not written).
func (d *detector) observe(o observation, now time.Time) *spool.Brake {
	dup, rate := d.thresholds(o.cred)
	if dup == 0 && rate == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweep(now)
	w := d.creds[o.cred.Name]
	if w == nil {
		w = &credWatch{pairs: newPairTable(), lists: newPairTable()}
		d.creds[o.cred.Name] = w
	}
	if w.tripped {
		return nil
	}
	w.last = now
	var trip *spool.Brake
	if dup > 0 {
		for _, rcpt := range o.to {
			if n := w.pairs.loop(d.pairKey(rcpt, o.digest), dup, now); n > dup && trip == nil {
				trip = &spool.Brake{Trigger: spool.TriggerLoop, Count: n, Threshold: dup, Window: loopWindow, Recipient: rcpt}
			}
		}
		if len(o.to) > 1 {
			if n := w.lists.loop(d.listKey(o.to, o.digest), dup, now); n > dup && trip == nil {
				trip = &spool.Brake{Trigger: spool.TriggerLoop, Count: n, Threshold: dup, Window: loopWindow, Recipient: o.to[0]}
			}
		}
	}
	if rate > 0 && o.counted {
		if n := w.rated(rate, now); n > rate && trip == nil {
			trip = &spool.Brake{Trigger: spool.TriggerRate, Count: n, Threshold: rate, Window: rateWindow, Recipient: o.to[0]}
		}
	}
	if trip != nil {
		trip.Subject = o.subject
		w.tripped = true
	}
	return trip
}

func (d *detector) pairKey(rcpt string, digest uint64) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(strings.ToLower(rcpt))
	var b [8]byte
	for i := range b {
		b[i] = byte(digest >> (8 * i))
	}
	h.Write(b[:])
	return h.Sum64()
}

// listKey is a recipient list's key: the list in any order and case.
func (d *detector) listKey(to []string, digest uint64) uint64 {
	lower := make([]string, len(to))
	for i, a := range to {
		lower[i] = strings.ToLower(a)
	}
	slices.Sort(lower)
	return d.pairKey(strings.Join(lower, "\x00"), digest)
}

// loop records one copy of a key and returns how many it had within
// loopWindow (at most max+1 are kept: enough to trip).
func (t *pairTable) loop(key uint64, max int, now time.Time) int {
	var p *pairTimes
	if e, ok := t.keys[key]; ok {
		t.lru.MoveToBack(e)
		p = e.Value.(*pairTimes)
	} else {
		if t.lru.Len() >= maxPairs {
			old := t.lru.Remove(t.lru.Front()).(*pairTimes)
			delete(t.keys, old.key)
		}
		p = &pairTimes{key: key}
		t.keys[key] = t.lru.PushBack(p)
	}
	p.times = keepSince(append(p.times, now.UnixNano()), now.Add(-loopWindow).UnixNano(), max+1)
	return len(p.times)
}

// rated records one counted message and returns how many fell within
// rateWindow (at most max+1 are kept).
func (w *credWatch) rated(max int, now time.Time) int {
	w.rate = keepSince(append(w.rate, now.UnixNano()), now.Add(-rateWindow).UnixNano(), max+1)
	return len(w.rate)
}

// keepSince drops the times at or before cutoff and all but the newest
// keep, reusing ts's array once it has room at the front to spare.
func keepSince(ts []int64, cutoff int64, keep int) []int64 {
	i := 0
	for i < len(ts) && ts[i] <= cutoff {
		i++
	}
	i = max(i, len(ts)-keep)
	if i > 0 && i >= len(ts)/2 {
		return append(ts[:0], ts[i:]...)
	}
	return ts[i:]
}

// sweep forgets credentials idle for loopWindow, at most once a minute;
// a tripped one keeps its mark until reset.
func (d *detector) sweep(now time.Time) {
	if now.Sub(d.swept) < time.Minute {
		return
	}
	d.swept = now
	for name, w := range d.creds {
		if !w.tripped && now.Sub(w.last) > loopWindow {
			delete(d.creds, name)
		}
	}
}

// reset forgets cred's counters and trip: the brake re-arms afresh.
func (d *detector) reset(cred string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.creds, cred)
}

// untrip lets cred be counted again after a trip the spool did not
// write (the accept failed): the next message trips it again.
func (d *detector) untrip(cred string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.creds[cred]; w != nil {
		w.tripped = false
	}
}

// isAnnounced says whether batch was registered before its first
// message. Answers for existing batches are cached: one registered by a
// message can never become announced, nor the other way round.
func (d *detector) isAnnounced(sp *spool.Spool, batch string) bool {
	if batch == "" {
		return false
	}
	d.mu.Lock()
	v, ok := d.announced[batch]
	d.mu.Unlock()
	if ok {
		return v
	}
	announced, exists, err := sp.Announced(batch)
	if err != nil || !exists {
		return announced
	}
	d.mu.Lock()
	if len(d.announced) >= maxAnnounced {
		clear(d.announced)
	}
	d.announced[batch] = announced
	d.mu.Unlock()
	return announced
}

// watch shows each submission to the detector, in order, and marks the
// first that trips its credential's brake; the spool writes the trip in
// the transaction that accepts it. It returns the credentials it tripped.
func (in *Intake) watch(subs []Submission, ins []spool.Incoming) []string {
	var trips []string
	now := ins[0].Received
	for i, s := range subs {
		if s.Cred == nil {
			continue
		}
		// The credential's settings now, not those of its session's
		// login: an operator's new threshold applies at once.
		c, ok := in.creds.Get(s.Cred.Name)
		if !ok {
			c = *s.Cred
		}
		dup, rate := in.brake.thresholds(&c)
		if dup == 0 && rate == 0 {
			continue
		}
		o := observation{cred: &c, to: s.To, subject: ins[i].Subject}
		if rate > 0 {
			o.counted = !in.brake.isAnnounced(in.spool, ins[i].Batch)
		}
		if dup > 0 {
			o.digest = in.brake.digest(ins[i].Subject, s.Message[s.Trace:])
		}
		if trip := in.brake.observe(o, now); trip != nil {
			ins[i].Brake = trip
			trips = append(trips, c.Name)
		}
	}
	return trips
}

// tripped tells of a trip the spool wrote, and cuts the credential's
// transfers in flight before their dot. The client still gets its 250:
// the cut runs on its own, bounded by abortTimeout.
func (in *Intake) tripped(acc spool.Accepted) {
	b := acc.Tripped
	in.cfg.Metrics.brakeTripped(b.Trigger)
	in.log.Warn("runaway brake tripped: the credential's mail is held until an operator acts",
		"credential", b.Credential, "trigger", b.Trigger, "count", b.Count, "threshold", b.Threshold,
		"window", b.Window, "held", b.Held, "in_flight", len(acc.InFlight), "recipient", b.Recipient, "subject", b.Subject)
	if len(acc.InFlight) == 0 || in.cfg.Abort == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		defer cancel()
		if err := in.cfg.Abort(ctx, acc.InFlight); err != nil {
			in.log.Warn("runaway brake: cutting transfers in flight", "credential", b.Credential, "err", err)
		}
	}()
}

// abortTimeout bounds a trip's wait for the transfers it cuts.
const abortTimeout = time.Minute

// ResetBrake forgets cred's brake counters: called when an operator
// releases its brake, so that it re-arms with fresh counts.
func (in *Intake) ResetBrake(cred string) { in.brake.reset(cred) }
