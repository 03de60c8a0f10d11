package spool

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// txn bundles a transaction's buckets. Every change of a message's state
// goes through transition, the one place that keeps the indexes, counters
// and history in step with the records.
type txn struct {
	tx      kv.Tx
	meta    kv.Bucket
	msgs    kv.Bucket
	bodies  kv.Bucket
	headers kv.Bucket
	states  kv.Bucket
	due     kv.Bucket
	ready   kv.Bucket
	done    kv.Bucket
	bycred  kv.Bucket
	events  kv.Bucket
	pauses  kv.Bucket
	audit   kv.Bucket
	frozen  kv.Bucket
	batches kv.Bucket
	bybatch kv.Bucket
	bycat   kv.Bucket
	outbox  kv.Bucket
	hooks   kv.Bucket
	brakes  kv.Bucket
	owners  kv.Bucket

	// owner is this node's owner value (see owners.go), nil on a spool
	// of one node: only a shared spool records who sends what.
	owner []byte
	// direct: Get and Delete go to the bucket itself rather than through
	// a kept cursor, which is a saving on bbolt only: over the network a
	// Seek is a query where a Get may be answered from what the
	// transaction read or prefetched, and a Delete needs no read at all.
	direct bool
	// notices are what the commit tells other nodes (see notify).
	notices map[[2]string]bool

	// deltas holds counter changes until flush, so that a bulk change of
	// 100,000 messages writes each counter once, not 100,000 times.
	deltas map[State]int64
	// emitted counts the events written, so that the commit wakes the
	// outbox's readers only when there is something to read.
	emitted int
	// evNum is the newest event number once loaded; flush stores it.
	evNum    uint64
	evLoaded bool
	// run is the open run of message events (see emitRun).
	run *outboxRun
	// seq is the newest history seq once loaded (see nextSeq); flush
	// stores it.
	seq       uint64
	seqLoaded bool
	// fields are the change's fields of the last operator's event, for
	// fieldsKey (see changeFields).
	fields    []byte
	fieldsKey fieldsKey
	// cursors are kept per bucket for get and del (see cursor).
	cursors map[kv.Bucket]kv.Cursor
}

// cursor returns t's cursor on b. bbolt's Get and Delete make a cursor
// per call, and its stack costs three allocations, a sixth of a bulk
// action's CPU; a cursor kept for the transaction reuses its stack.
func (t *txn) cursor(b kv.Bucket) kv.Cursor {
	c := t.cursors[b]
	if c == nil {
		if t.cursors == nil {
			t.cursors = make(map[kv.Bucket]kv.Cursor, 8)
		}
		c = b.Cursor()
		t.cursors[b] = c
	}
	return c
}

// lookup is b.Get(key) through t's cursor on b (bbolt; see cursor).
func (t *txn) lookup(b kv.Bucket, key []byte) []byte {
	if t.direct {
		return b.Get(key)
	}
	k, v := t.cursor(b).Seek(key)
	if !bytes.Equal(k, key) || v == nil {
		return nil
	}
	return v
}

// del is b.Delete(key) through t's cursor on b (bbolt; see cursor).
func (t *txn) del(b kv.Bucket, key []byte) error {
	if t.direct {
		return b.Delete(key)
	}
	c := t.cursor(b)
	if k, _ := c.Seek(key); !bytes.Equal(k, key) {
		return nil
	}
	return c.Delete()
}

func wrap(tx kv.Tx) *txn {
	return &txn{
		tx:      tx,
		meta:    tx.Bucket(bucketMeta),
		msgs:    tx.Bucket(bucketMsgs),
		bodies:  tx.Bucket(bucketBodies),
		headers: tx.Bucket(bucketHeaders),
		states:  tx.Bucket(bucketStates),
		due:     tx.Bucket(bucketDue),
		ready:   tx.Bucket(bucketReady),
		done:    tx.Bucket(bucketDone),
		bycred:  tx.Bucket(bucketByCred),
		events:  tx.Bucket(bucketEvents),
		pauses:  tx.Bucket(bucketPauses),
		audit:   tx.Bucket(bucketAudit),
		frozen:  tx.Bucket(bucketFrozen),
		batches: tx.Bucket(bucketBatches),
		bybatch: tx.Bucket(bucketByBatch),
		bycat:   tx.Bucket(bucketByCat),
		outbox:  tx.Bucket(bucketOutbox),
		hooks:   tx.Bucket(bucketHooks),
		brakes:  tx.Bucket(bucketBrakes),
		owners:  tx.Bucket(bucketOwners),
		deltas:  map[State]int64{},
	}
}

func (t *txn) get(id ID) (Message, error) {
	v := t.lookup(t.msgs, id.key())
	if v == nil {
		return Message{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return decodeMessage(v)
}

func (t *txn) put(m *Message) error {
	v, err := encodeMessage(m)
	if err != nil {
		return err
	}
	if t.owner != nil && m.State == Sending && m.Intent != nil {
		if err := t.cut(m.ID); err != nil {
			return err
		}
	}
	return t.msgs.Put(m.ID.key(), v)
}

// Event is one entry of a message's history.
type Event struct {
	Time   time.Time `json:"time"`
	State  State     `json:"state"` // the state entered
	Actor  string    `json:"actor"` // "smtp", "dispatcher", "uid:1000", "token:ops", ...
	Reason string    `json:"reason,omitempty"`
	// Upstream, on a delivery attempt's event, is the upstream that gave
	// its answer, without secrets.
	Upstream string `json:"upstream,omitempty"`
	// Audit, on the event of an administrative change, is that change's
	// audit entry: the spool writes it in the transaction that makes the
	// change, adds the outcomes of each later transaction of the change
	// to its Counts, and sets its Seq, so that a change is never made
	// off the record. Never part of a history.
	Audit *AuditEntry `json:"-"`

	// emit is the outbox event the change reports, when its kind cannot
	// be told from the new state (a release or a flush both queue a
	// message); "" leaves it to the state (see messageEventType).
	emit string
	// cause is data.reason of a held, released or flushed event: who
	// holds or held the message (operator, pause, freeze, batch).
	cause string
}

// insert stores a new message, its body and main headers, and indexes
// it. Its first event goes into its record and its headers into the
// bodies bucket (see headersKey): in buckets of their own they cost each
// accept's commit two more runs of pages to write, or three.
func (t *txn) insert(m *Message, body []byte, hdrs []Header, ev Event) error {
	if err := t.bodies.Put(m.ID.key(), body); err != nil {
		return err
	}
	if len(hdrs) > 0 {
		if err := t.bodies.Put(headersKey(m.ID), encodeHeaders(hdrs)); err != nil {
			return err
		}
	}
	if err := t.bycred.Put(credKey(m.Credential, m.ID), nil); err != nil {
		return err
	}
	if err := t.groupIndex(m, true); err != nil {
		return err
	}
	if err := t.index(m); err != nil {
		return err
	}
	if err := t.record(m, ev); err != nil {
		return err
	}
	if err := t.put(m); err != nil {
		return err
	}
	if err := t.emitMessage(EvMessageAccepted, m, &ev); err != nil {
		return err
	}
	if m.State == Held {
		return t.emitMessage(EvMessageHeld, m, &ev)
	}
	return nil
}

// transition applies change to m, moving its index entries from where its
// old state and times put them to where the new ones do, and records ev
// (with the new state) in its history. A message that finishes loses its
// body.
func (t *txn) transition(m *Message, ev Event, change func(m *Message)) error {
	return t.transitionBy(m, ev, func(m *Message) *Event { change(m); return nil })
}

// transitionBy is transition for a change that may find someone else
// decided the outcome (an operator's intent, a freeze, a pause): the
// actor and reason it returns, if any, replace ev's in the history.
func (t *txn) transitionBy(m *Message, ev Event, change func(m *Message) *Event) error {
	if err := t.unindex(m); err != nil {
		return err
	}
	before, holder := m.State, m.HeldBy
	if by := change(m); by != nil {
		ev.Actor, ev.Reason, ev.cause = by.Actor, by.Reason, by.cause
		ev.emit = by.emit
	}
	if m.State.Finished() {
		if err := t.del(t.bodies, m.ID.key()); err != nil {
			return err
		}
	}
	if t.owner != nil && (before == Sending) != (m.State == Sending) {
		if err := t.own(m.ID, m.State == Sending); err != nil {
			return err
		}
	}
	if err := t.index(m); err != nil {
		return err
	}
	if m.State != before || ev.Reason != "" {
		ev.State = m.State
		if err := t.record(m, ev); err != nil {
			return err
		}
	}
	if err := t.put(m); err != nil {
		return err
	}
	typ := cmp.Or(ev.emit, messageEventType(m.State))
	if typ == "" || (m.State == before && m.HeldBy == holder) {
		return nil
	}
	return t.emitMessage(typ, m, &ev)
}

// record appends ev to the history in m's record, which the caller then
// writes: every change of a message rewrites its record anyway, and an
// event of its own in the events bucket (as files of format 2 and older
// have) made each commit write that bucket's pages too (a lone accept:
// 2 of its ~20 runs; a 100,000-message hold: every page of the bucket,
// 40 MB). Its binary form: seq, time, state, actor, reason, upstream.
func (t *txn) record(m *Message, ev Event) error {
	b := slices.Clip(m.history) // a clone may share the array
	b = binary.AppendUvarint(b, t.nextSeq())
	b = appendTime(b, ev.Time)
	b = append(b, byte(ev.State))
	b = appendString(b, ev.Actor)
	b = appendString(b, ev.Reason)
	m.history = appendString(b, ev.Upstream)
	return nil
}

// nextSeq issues the seq of a history event, which orders it among the
// message's others. The counter is in meta, which every write changes
// anyway: the events bucket's NextSequence made bbolt rewrite that
// bucket's root page in every commit. It starts above the events
// bucket's sequence, so that a file written before format 3 orders its
// old events first.
func (t *txn) nextSeq() uint64 {
	if !t.seqLoaded {
		t.seq, t.seqLoaded = t.lastSeq(), true
	}
	t.seq++
	return t.seq
}

// lastSeq is the newest history seq issued.
func (t *txn) lastSeq() uint64 {
	n := t.events.Sequence()
	if v := t.meta.Get(keyLastSeq); v != nil {
		n = max(n, binary.BigEndian.Uint64(v))
	}
	return n
}

// seqEvent is a history event with its place in the history.
type seqEvent struct {
	seq uint64
	ev  Event
}

// inlineEvents decodes the history in m's record.
func inlineEvents(m *Message) ([]seqEvent, error) {
	var out []seqEvent
	d := decoder{b: m.history}
	for d.err == nil && len(d.b) > 0 {
		e := seqEvent{seq: d.uvarint()}
		e.ev = Event{Time: d.time(), State: State(d.byte()), Actor: d.string(), Reason: d.string(), Upstream: d.string()}
		out = append(out, e)
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode history of %s: %w", m.ID, d.err)
	}
	return out, nil
}

// history returns a message's events, oldest first: those in its record
// and, in a file written before format 3, those of the events bucket, in
// the order of their seqs.
func (t *txn) history(m *Message) ([]Event, error) {
	all, err := inlineEvents(m)
	if err != nil {
		return nil, err
	}
	prefix := m.ID.key()
	c := t.events.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		e := seqEvent{seq: binary.BigEndian.Uint64(k[8:])}
		if err := json.Unmarshal(v, &e.ev); err != nil {
			return nil, fmt.Errorf("decode event of %s: %w", m.ID, err)
		}
		all = append(all, e)
	}
	slices.SortStableFunc(all, func(a, b seqEvent) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Event, len(all))
	for i, e := range all {
		out[i] = e.ev
	}
	return out, nil
}

// timeIndex is the index, if any, that holds a message in its state.
func (t *txn) timeIndex(m *Message) (kv.Bucket, []byte) {
	switch m.State {
	case Waiting, Deferred:
		return t.due, timeKey(m.Release, m.ID)
	case Queued:
		return t.ready, timeKey(m.Release, m.ID)
	case Delivered, Failed, Dropped, Unsure:
		return t.done, timeKey(m.Finished, m.ID)
	}
	return nil, nil
}

func (t *txn) index(m *Message) error {
	if b, k := t.timeIndex(m); b != nil {
		if err := b.Put(k, nil); err != nil {
			return err
		}
	}
	t.deltas[m.State]++
	return t.states.Put(stateKey(m.State, m.ID), nil)
}

func (t *txn) unindex(m *Message) error {
	if b, k := t.timeIndex(m); b != nil {
		if err := t.del(b, k); err != nil {
			return err
		}
	}
	t.deltas[m.State]--
	return t.del(t.states, stateKey(m.State, m.ID))
}

// remove deletes a message and everything that points at it.
func (t *txn) remove(m *Message) error {
	if err := t.unindex(m); err != nil {
		return err
	}
	for _, b := range []kv.Bucket{t.bodies, t.headers, t.msgs} {
		if err := b.Delete(m.ID.key()); err != nil {
			return err
		}
	}
	if err := t.bodies.Delete(headersKey(m.ID)); err != nil {
		return err
	}
	if err := t.bycred.Delete(credKey(m.Credential, m.ID)); err != nil {
		return err
	}
	if err := t.groupIndex(m, false); err != nil {
		return err
	}
	prefix := m.ID.key()
	c := t.events.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the counter changes and the newest event number; update
// calls it after each write.
func (t *txn) flush() error {
	if err := t.closeRun(); err != nil {
		return err
	}
	if t.emitted > 0 {
		if err := t.meta.Put(keyLastEvent, u64(t.evNum)); err != nil {
			return err
		}
	}
	if t.seqLoaded {
		if err := t.meta.Put(keyLastSeq, u64(t.seq)); err != nil {
			return err
		}
	}
	for st, d := range t.deltas {
		if d == 0 {
			continue
		}
		k := countKey(st)
		var n uint64
		if v := t.meta.Get(k); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		if d < 0 && n < uint64(-d) {
			return fmt.Errorf("spool counter %s would go below zero", st)
		}
		if err := t.meta.Put(k, u64(uint64(int64(n)+d))); err != nil {
			return err
		}
	}
	clear(t.deltas)
	return nil
}

func credKey(cred string, id ID) []byte {
	k := make([]byte, 0, len(cred)+9)
	k = append(k, cred...)
	k = append(k, 0)
	return append(k, id.key()...)
}

// headersKey is the key of a message's main headers in the bodies
// bucket: 0xff and its ID, so that all headers sort after all bodies
// (an ID's first byte is below 0xff until the year 10889). The accept
// writes that bucket's pages anyway, and the headers' own leaves are
// the bucket's last ones: an accept's headers go into the leaf the
// previous one wrote. In the record, they made every record 2.5 times
// as large, and a 100,000-message hold write as many more bytes; next
// to each body, they kept alive the leaves that a drop of all those
// bodies frees without writing.
func headersKey(id ID) []byte {
	return append([]byte{0xff}, id.key()...)
}

// eventKey orders a message's events by the order they were written, which
// several events at one instant (a bulk action) would not get from time.
func eventKey(id ID, seq uint64) []byte {
	return append(id.key(), u64(seq)...)
}

// prefetch tells a driver that reads over the network which messages
// the transaction is about to read (their records, and their bodies
// when bodies is set), so that it reads them in one round trip.
func (t *txn) prefetch(ids []ID, bodies bool) {
	p, ok := t.tx.(kv.Prefetcher)
	if !ok || len(ids) == 0 {
		return
	}
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = id.key()
	}
	p.Prefetch(bucketMsgs, keys)
	if bodies {
		p.Prefetch(bucketBodies, keys)
	}
}
