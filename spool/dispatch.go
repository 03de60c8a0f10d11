package spool

import (
	"cmp"
	"fmt"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// maxPromote bounds how many due messages one Claim marks queued, so that a
// release of many messages at once is spread over several transactions.
const maxPromote = 5000

// maxSkip bounds how many unclaimable due messages one Claim looks past.
const maxSkip = 10000

// Claimed is a message the dispatcher has taken for a delivery attempt,
// with a copy of its body.
type Claimed struct {
	Message
	Body []byte
}

// ClaimHook is told of each message a transaction claims, inside that
// transaction and before its commit: the dispatcher registers the attempt
// there, so that an abort which learns from the spool that a message is
// sending always finds the attempt. The transaction may run again (see
// update) and may fail: a hook must accept the same ID twice, and its
// owner undoes what it did for every ID the call does not return.
type ClaimHook func(id ID)

// Claim takes up to limit messages whose release time has come, queued ones
// first, and marks them sending (one more attempt each). Due messages
// beyond limit are marked queued, so that the states say what waits for a
// delivery slot. Nothing is claimed while a pause covers it.
func (s *Spool) Claim(now time.Time, limit int) ([]Claimed, error) {
	return s.ClaimWith(now, limit, nil)
}

// ClaimWith is Claim, telling hook (when not nil) of each message it
// claims before the commit.
func (s *Spool) ClaimWith(now time.Time, limit int, hook ClaimHook) ([]Claimed, error) {
	var out []Claimed
	err := s.update(func(t *txn) error {
		var err error
		out, err = t.claimDue(now, limit, 0, hook)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// claimDue is Claim's work inside a transaction. It leaves skip alone: a
// message whose outcome the same transaction records is not claimed
// again before its attempt is over.
func (t *txn) claimDue(now time.Time, limit int, skip ID, hook ClaimHook) ([]Claimed, error) {
	var out []Claimed
	if t.pause("") != nil {
		return nil, nil
	}
	for _, b := range []kv.Bucket{t.ready, t.due} {
		// Look past messages that cannot be claimed (a pause or a
		// freeze covers them), so they never block the rest. IDs are
		// read a page at a time, only as many as are still wanted:
		// reading limit+maxSkip every time made each claim walk
		// 10,000 keys while a large release was queued.
		var from []byte
		for skipped := 0; len(out) < limit && skipped < maxSkip; {
			var ids []ID
			ids, from = dueIDsFrom(b, now, from, limit-len(out))
			t.prefetch(ids, true)
			for _, id := range ids {
				c, ok, err := t.claimOne(id, skip, now)
				if err != nil {
					return nil, err
				}
				if !ok {
					skipped++
					continue
				}
				if hook != nil {
					hook(id)
				}
				out = append(out, c)
			}
			if from == nil {
				break
			}
		}
	}
	return out, t.promote(now)
}

func (t *txn) claimOne(id, skip ID, now time.Time) (Claimed, bool, error) {
	if id == skip {
		return Claimed{}, false, nil
	}
	return t.claim(id, now)
}

// dueIDs returns up to n IDs from a time index whose time is not after now.
// The IDs are collected before the caller changes the index under the cursor.
func dueIDs(b kv.Bucket, now time.Time, n int) []ID {
	var ids []ID
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < n; k, _ = c.Next() {
		at, id := splitTimeKey(k)
		if at.After(now) {
			break
		}
		ids = append(ids, id)
	}
	return ids
}

// dueIDsFrom is dueIDs starting at key from (nil: the first), returning
// also the key to go on from (nil when the index has nothing more due).
// The key is copied: the caller changes the index before seeking it.
func dueIDsFrom(b kv.Bucket, now time.Time, from []byte, n int) ([]ID, []byte) {
	var ids []ID
	c := b.Cursor()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil; k, _ = c.Next() {
		at, id := splitTimeKey(k)
		if at.After(now) {
			return ids, nil
		}
		if len(ids) == n {
			return ids, append([]byte(nil), k...)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// claim marks a due message sending. A message whose credential a pause
// covers is left alone: the pause is holding it (see Pause).
func (t *txn) claim(id ID, now time.Time) (Claimed, bool, error) {
	m, err := t.get(id)
	if err != nil {
		return Claimed{}, false, err
	}
	if _, frozen := t.frozenReason(m.Credential); frozen || t.pausedFor(&m) != nil {
		return Claimed{}, false, nil
	}
	ev := Event{Time: now, Actor: "dispatcher"}
	if err := t.transition(&m, ev, func(m *Message) {
		m.State = Sending
		m.Attempts++
	}); err != nil {
		return Claimed{}, false, err
	}
	body := t.bodies.Get(id.key())
	if body == nil {
		return Claimed{}, false, fmt.Errorf("message %s has no body", id)
	}
	return Claimed{Message: m.clone(), Body: append([]byte(nil), body...)}, true, nil
}

func (t *txn) promote(now time.Time) error {
	ids := dueIDs(t.due, now, maxPromote)
	t.prefetch(ids, false)
	for _, id := range ids {
		m, err := t.get(id)
		if err != nil {
			return err
		}
		if err := t.transition(&m, Event{Time: now, Actor: "dispatcher"}, func(m *Message) { m.State = Queued }); err != nil {
			return err
		}
	}
	return nil
}

// Attempt is the result of a delivery attempt, as the dispatcher judged it.
type Attempt struct {
	// Rcpts holds the recipients with their new states and replies, in
	// the message's order. Only pending recipients may change.
	Rcpts []Recipient
	// State is Delivered, Failed or Deferred.
	State     State
	LastError string
	// Retry is the next attempt's time, for Deferred.
	Retry time.Time
	Now   time.Time
	// Attempt is the claim's attempt number (Claimed.Attempts); Finish
	// refuses an outcome for another attempt. 0 skips the check.
	Attempt int
	// Interrupted says the end-of-data dot went out and no reply came
	// back: the upstream may have the message. The message is marked
	// Interrupted as a crash would leave it, so that a drop reports it
	// maybe_delivered rather than dropped.
	Interrupted bool
	// Upstream is the upstream that gave the attempt's answer, without
	// secrets; Finish stores it on the record and in the history.
	Upstream string
	// Bounce, when set, is the delivery status notification to send the
	// sender if the message ends failed. Finish accepts it in the
	// transaction that records the failure, so that a crash can neither
	// lose it nor send it twice, and links the two records. It is not
	// accepted when the attempt's outcome does not stand (an operator's
	// drop), nor for a message with a null sender (a DSN is one).
	Bounce *Bounce
}

// Bounce is a DSN to accept with a failure: its envelope and body. Its
// Received and Release are the failure's time: a DSN has no hold window.
type Bounce struct {
	Incoming
	Body []byte
}

// Finish records the outcome of a claimed message's attempt. The message
// must be sending. An operator's drop or hold that arrived during the
// attempt is carried out now: a message the attempt delivered is
// delivered, whatever was asked; any other is dropped or held.
func (s *Spool) Finish(id ID, a Attempt) (Message, error) {
	m, _, err := s.FinishAndClaim(id, a, 0, nil)
	return m, err
}

// FinishAndClaim is Finish, then ClaimWith(a.Now, limit, hook) in the
// same transaction: the slot an attempt held takes its next message
// with the commit that records its outcome, one commit per message
// instead of two. The finished message itself is not claimed again in
// that transaction, even if its outcome makes it due at once. When the
// outcome cannot be recorded, nothing is claimed.
func (s *Spool) FinishAndClaim(id ID, a Attempt, limit int, hook ClaimHook) (Message, []Claimed, error) {
	switch a.State {
	case Delivered, Failed, Deferred:
	default:
		return Message{}, nil, fmt.Errorf("finish %s: %s is not an outcome", id, a.State)
	}
	var out Message
	var next []Claimed
	claimFailed := false
	err := s.update(func(t *txn) error {
		next, claimFailed = nil, false
		if err := t.finish(id, a, &out); err != nil {
			return err
		}
		if limit == 0 {
			return nil
		}
		var err error
		next, err = t.claimDue(a.Now, limit, id, hook)
		claimFailed = err != nil
		return err
	})
	if err != nil && claimFailed {
		// Another message's trouble (an unreadable record) must not
		// keep this outcome from the disk: record it alone.
		m, err := s.Finish(id, a)
		return m, nil, err
	}
	if err != nil {
		return out, nil, err
	}
	return out, next, nil
}

// finish records a's outcome of message id, which must be sending, and
// sets out to the message as recorded.
func (t *txn) finish(id ID, a Attempt, out *Message) error {
	m, err := t.get(id)
	if err != nil {
		return err
	}
	if m.State != Sending {
		return fmt.Errorf("finish %s: message is %s, not sending", id, m.State)
	}
	if a.Attempt != 0 && a.Attempt != m.Attempts {
		// A retried outcome whose first write did land after all (a
		// commit whose fsync failed may still be visible), arriving
		// while a later attempt runs: it must not settle that one.
		return fmt.Errorf("finish %s: outcome of attempt %d, the message is on attempt %d", id, a.Attempt, m.Attempts)
	}
	if len(a.Rcpts) != len(m.Rcpts) {
		return fmt.Errorf("finish %s: %d recipient results for %d recipients", id, len(a.Rcpts), len(m.Rcpts))
	}
	for i, r := range a.Rcpts {
		if r.Addr != m.Rcpts[i].Addr || (m.Rcpts[i].State != RcptPending && r.State != m.Rcpts[i].State) {
			return fmt.Errorf("finish %s: recipient %d changed from %s %s to %s %s", id, i,
				m.Rcpts[i].Addr, m.Rcpts[i].State, r.Addr, r.State)
		}
	}
	ev := Event{Time: a.Now, Actor: "dispatcher", Reason: a.LastError, Upstream: a.Upstream}
	var bounceErr error
	err = t.transitionBy(&m, ev, func(m *Message) *Event {
		copy(m.Rcpts, a.Rcpts)
		m.Upstream = cmp.Or(a.Upstream, m.Upstream)
		m.LastError = a.LastError
		m.State = a.State
		m.Interrupted = m.Interrupted || a.Interrupted
		if a.State == Deferred {
			m.Release = a.Retry
		} else {
			m.Finished = a.Now
		}
		by := t.settle(m, a.Now)
		bounceErr = t.bounce(m, a.Bounce, a.Now)
		return by
	})
	*out = m.clone()
	return cmp.Or(bounceErr, err)
}

// settle carries out an operator's intent, a batch's cancel, a freeze or
// a pause on a message whose attempt has just ended (or was cut short by
// a crash). It returns who decided the new state, for the history: the
// operator who asked, not the dispatcher that cut the attempt short. It
// returns nil when the attempt's own outcome stands.
func (t *txn) settle(m *Message, now time.Time) *Event {
	in := m.Intent
	m.Intent = nil
	if in != nil && in.Holder == HeldByBrake && !in.Drop && t.brakeOf(m.Credential) == nil {
		// The brake that asked was released during the attempt: its
		// mail is back on schedule, and this message with it.
		in = nil
	}
	batch, cancelled := t.cancelled(m)
	switch {
	case m.State == Delivered:
	case in != nil && in.Drop:
		m.State, m.Reason, m.Finished = dropState(m), in.Reason, now
		return &Event{Actor: in.Actor, Reason: in.Reason}
	case m.State == Failed:
	case cancelled:
		m.State, m.Reason, m.Finished = dropState(m), "batch "+m.Batch+" cancelled", now
		return &Event{Actor: batch.Actor, Reason: m.Reason}
	case in != nil:
		m.State, m.HeldBy, m.Reason = Held, cmp.Or(in.Holder, HeldByOperator), in.Reason
		return &Event{Actor: in.Actor, Reason: in.Reason, cause: holderCause(in.Holder)}
	default:
		if f, frozen := t.frozenBy(m.Credential); frozen {
			m.State, m.HeldBy, m.Reason = Held, HeldByFreeze, f.Reason
			return &Event{Actor: f.Actor, Reason: f.Reason, cause: causeFreeze}
		}
		if p := t.pausedFor(m); p != nil {
			m.State, m.HeldBy, m.Reason = Held, HeldByPause, p.describe()
			return &Event{Actor: p.Actor, Reason: m.Reason, cause: p.cause()}
		}
	}
	return nil
}

// bounce accepts b, the DSN of m's failure, if m ended failed and may
// be bounced, and links the two. It runs inside m's transition, before
// m's record and its message.failed event are written, so that both
// name the DSN.
func (t *txn) bounce(m *Message, b *Bounce, now time.Time) error {
	if b == nil || m.State != Failed || m.From == "" || m.BounceOf != 0 || m.DSN != 0 {
		return nil
	}
	in := b.Incoming
	in.Received, in.Release = now, now
	dsn := newMessage(in, b.Body)
	dsn.BounceOf = m.ID
	if err := t.accept(&dsn, "dispatcher", in.Headers, b.Body); err != nil {
		return fmt.Errorf("accept the dsn of %s: %w", m.ID, err)
	}
	m.DSN = dsn.ID
	return nil
}

// dropState is where a drop puts a message: Unsure if an attempt of it
// was cut short by a crash, since the upstream may have had it in full.
func dropState(m *Message) State {
	if m.Interrupted {
		return Unsure
	}
	return Dropped
}

// interrupted is the history's word for an attempt a crash cut short.
const interrupted = "attempt interrupted"

// requeueSending runs at Open: whatever was being sent when the previous
// process died is queued again (the upstream may have got it already:
// delivery is at least once), or held if an operator asked. One an
// operator asked to drop becomes Unsure, not Dropped: the upstream may
// have taken it before the crash.
func requeueSending(t *txn, actor string, which func(owner []byte) bool) ([]ID, error) {
	var ids []ID
	c := t.states.Cursor()
	for k, _ := c.Seek([]byte{byte(Sending)}); k != nil && k[0] == byte(Sending); k, _ = c.Next() {
		id := idFromKey(k[1:])
		if which == nil || which(t.lookup(t.owners, id.key())) {
			ids = append(ids, id)
		}
	}
	now := time.Now()
	for _, id := range ids {
		m, err := t.get(id)
		if err != nil {
			return nil, err
		}
		if err := t.requeue(&m, actor, now); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// requeue queues a sending message again as interrupted: its attempt is
// over, and may have reached the upstream.
func (t *txn) requeue(m *Message, actor string, now time.Time) error {
	ev := Event{Time: now, Actor: actor, Reason: interrupted}
	return t.transitionBy(m, ev, func(m *Message) *Event {
		m.State = Queued
		m.Interrupted = true
		by := t.settle(m, now)
		if by != nil {
			by.Reason = interrupted + ": " + by.Reason
		}
		return by
	})
}
