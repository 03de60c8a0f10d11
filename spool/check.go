package spool

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/holdrelay/relay/spool/kv"
)

// Check verifies the invariants of the package doc over the whole file and
// returns every violation found (joined), or nil. It reads everything: use
// it in tests and in offline checks, not on a hot path.
func (s *Spool) Check() error {
	return s.view(func(t *txn) error {
		return errors.Join(check(t), checkOwners(t, s.owner != nil))
	})
}

// checkOwners: on a shared spool every sending message names its node in
// owners, and owners names nothing else; a spool of one node has none.
func checkOwners(t *txn, shared bool) error {
	var errs []error
	err := t.owners.ForEach(func(k, v []byte) error {
		id := idFromKey(k)
		switch m, err := t.get(id); {
		case !shared:
			errs = append(errs, fmt.Errorf("%s: an owner on a spool of one node", id))
		case err != nil:
			errs = append(errs, fmt.Errorf("owner of %s: %w", id, err))
		case m.State != Sending:
			errs = append(errs, fmt.Errorf("%s: %s but owned by node %s", id, m.State, ownerName(v)))
		}
		return nil
	})
	if err != nil || !shared {
		return errors.Join(append(errs, err)...)
	}
	c := t.states.Cursor()
	for k, _ := c.Seek([]byte{byte(Sending)}); k != nil && k[0] == byte(Sending); k, _ = c.Next() {
		if t.owners.Get(k[1:]) == nil {
			errs = append(errs, fmt.Errorf("%s: sending with no owner", idFromKey(k[1:])))
		}
	}
	return errors.Join(errs...)
}

func check(t *txn) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var lastID uint64
	if v := t.meta.Get(keyLastID); v != nil {
		lastID = binary.BigEndian.Uint64(v)
	}
	counts := map[State]uint64{}
	want := map[string]map[string]bool{"due": {}, "ready": {}, "done": {}, "states": {}, "bycred": {}, "bybatch": {}, "bycat": {}}
	err := t.msgs.ForEach(func(k, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil {
			bad("%x: %v", k, err)
			return nil
		}
		if m.ID != idFromKey(k) {
			bad("record under %s says ID %s", idFromKey(k), m.ID)
		}
		if uint64(m.ID) > lastID {
			bad("%s: ID above lastid %d", m.ID, lastID)
		}
		counts[m.State]++
		want["states"][string(stateKey(m.State, m.ID))] = true
		want["bycred"][string(credKey(m.Credential, m.ID))] = true
		if m.Batch != "" {
			want["bybatch"][string(groupKey(m.Batch, m.ID))] = true
			if t.batches.Get([]byte(m.Batch)) == nil {
				bad("%s: batch %q is not registered", m.ID, m.Batch)
			}
		}
		for _, c := range m.Categories {
			want["bycat"][string(groupKey(c, m.ID))] = true
		}
		if (m.State == Held) != (m.HeldBy != "") || !knownHolders[m.HeldBy] {
			bad("%s: %s with holder %q", m.ID, m.State, m.HeldBy)
		}
		checkHistory(t, &m, bad)
		if m.Intent != nil && m.State != Sending {
			bad("%s: %s with a pending intent", m.ID, m.State)
		}
		if b, key := t.timeIndex(&m); b != nil {
			want[indexName(t, b)][string(key)] = true
		}
		hasBody := t.bodies.Get(k) != nil
		if m.State.Finished() && hasBody {
			bad("%s: %s but still has a body", m.ID, m.State)
		}
		if !m.State.Finished() && !hasBody {
			bad("%s: %s but has no body", m.ID, m.State)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name, b := range map[string]kv.Bucket{"due": t.due, "ready": t.ready, "done": t.done, "states": t.states, "bycred": t.bycred,
		"bybatch": t.bybatch, "bycat": t.bycat} {
		n := 0
		b.ForEach(func(k, _ []byte) error {
			n++
			if !want[name][string(k)] {
				bad("%s holds an entry %x that no record explains", name, k)
			}
			return nil
		})
		if n != len(want[name]) {
			bad("%s has %d entries, the records want %d", name, n, len(want[name]))
		}
	}
	checkBodies(t, bad)
	t.headers.ForEach(func(k, _ []byte) error {
		if t.msgs.Get(k) == nil {
			bad("headers %s have no record", idFromKey(k))
		}
		return nil
	})
	t.events.ForEach(func(k, _ []byte) error {
		if t.msgs.Get(k[:8]) == nil {
			bad("event of %s has no record", idFromKey(k[:8]))
		}
		return nil
	})
	checkOutbox(t, bad)
	checkBrakes(t, bad)
	for _, st := range States {
		var n uint64
		if v := t.meta.Get(countKey(st)); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		if n != counts[st] {
			bad("counter %s is %d, records say %d", st, n, counts[st])
		}
	}
	return errors.Join(errs...)
}

// checkHistory checks the history in m's record: its seqs increase and
// none is beyond lastseq.
func checkHistory(t *txn, m *Message, bad func(string, ...any)) {
	evs, err := inlineEvents(m)
	if err != nil {
		bad("%v", err)
	}
	last := t.lastSeq()
	for i, e := range evs {
		if e.seq > last || (i > 0 && e.seq <= evs[i-1].seq) {
			bad("%s: history event %d out of order or beyond lastseq %d", m.ID, e.seq, last)
			break
		}
	}
}

// checkBodies checks that every entry of the bodies bucket is the body
// or the main headers of a message that has a record, and that headers
// decode and are not in the headers bucket too.
func checkBodies(t *txn, bad func(string, ...any)) {
	t.bodies.ForEach(func(k, v []byte) error {
		id := k
		switch {
		case len(k) == 8:
		case len(k) == 9 && k[0] == 0xff:
			id = k[1:]
			if _, err := decodeHeaders(v); err != nil {
				bad("%s: %v", idFromKey(id), err)
			}
			if t.headers.Get(id) != nil {
				bad("%s: headers in the bodies and the headers bucket", idFromKey(id))
			}
		default:
			bad("bodies holds a key %x of no message", k)
			return nil
		}
		if t.msgs.Get(id) == nil {
			bad("body or headers of %s have no record", idFromKey(id))
		}
		return nil
	})
}

func indexName(t *txn, b kv.Bucket) string {
	switch b {
	case t.due:
		return "due"
	case t.ready:
		return "ready"
	}
	return "done"
}

// checkOutbox checks that every outbox event is below the outbox's
// sequence and readable, and that no webhook's cursor is ahead of it.
func checkOutbox(t *txn, bad func(string, ...any)) {
	last, prev := t.outbox.Sequence(), uint64(0)
	t.outbox.ForEach(func(k, v []byte) error {
		if len(k) != 8 || binary.BigEndian.Uint64(k) > last {
			bad("outbox event %x beyond the sequence %d", k, last)
			return nil
		}
		r, err := decodeOutboxRecord(k, v, true)
		switch {
		case err != nil:
			bad("%v", err)
		case r.first.Seq <= prev:
			bad("outbox event %d inside the run before it, which ends at %d", r.first.Seq, prev)
		case r.last() > last:
			bad("outbox run %d ends at %d, beyond the sequence %d", r.first.Seq, r.last(), last)
		}
		if err == nil { // an unreadable run's extent is unknown
			prev = max(prev, r.last())
		}
		return nil
	})
	t.hooks.ForEach(func(k, _ []byte) error {
		w, err := t.webhook(string(k))
		switch {
		case err != nil:
			bad("%v", err)
		case w.Cursor > last:
			bad("webhook %q: cursor %d beyond the last event %d", k, w.Cursor, last)
		}
		return nil
	})
}

var knownHolders = map[string]bool{"": true, HeldByOperator: true, HeldByPause: true, HeldByFreeze: true, HeldByBrake: true}

// checkBrakes checks that every brake record names its credential and a
// trigger. An unreadable one is no violation (it fails closed, and
// Unreadable reports it), but a readable one must make sense.
func checkBrakes(t *txn, bad func(string, ...any)) {
	t.brakes.ForEach(func(k, v []byte) error {
		b := decodeBrake(string(k), v)
		if len(k) == 0 || (!b.Unreadable && b.Trigger != TriggerLoop && b.Trigger != TriggerRate) {
			bad("brake %q: trigger %q", k, b.Trigger)
		}
		return nil
	})
}
