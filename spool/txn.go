package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// txn bundles a transaction's buckets. Every change of a message's state
// goes through transition, the one place that keeps the indexes and
// counters in step with the records.
type txn struct {
	tx     *bolt.Tx
	meta   *bolt.Bucket
	msgs   *bolt.Bucket
	bodies *bolt.Bucket
	states *bolt.Bucket
	due    *bolt.Bucket
	ready  *bolt.Bucket
	done   *bolt.Bucket
}

func wrap(tx *bolt.Tx) *txn {
	return &txn{
		tx:     tx,
		meta:   tx.Bucket(bucketMeta),
		msgs:   tx.Bucket(bucketMsgs),
		bodies: tx.Bucket(bucketBodies),
		states: tx.Bucket(bucketStates),
		due:    tx.Bucket(bucketDue),
		ready:  tx.Bucket(bucketReady),
		done:   tx.Bucket(bucketDone),
	}
}

func (t *txn) get(id ID) (Message, error) {
	v := t.msgs.Get(id.key())
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
	return t.msgs.Put(m.ID.key(), v)
}

// insert stores a new message and its body and indexes it.
func (t *txn) insert(m *Message, body []byte) error {
	if err := t.bodies.Put(m.ID.key(), body); err != nil {
		return err
	}
	if err := t.index(m); err != nil {
		return err
	}
	return t.put(m)
}

// transition applies change to m, moving its index entries from where its
// old state and times put them to where the new ones do. A message that
// finishes loses its body.
func (t *txn) transition(m *Message, change func(m *Message)) error {
	if err := t.unindex(m); err != nil {
		return err
	}
	change(m)
	if m.State.Finished() {
		if err := t.bodies.Delete(m.ID.key()); err != nil {
			return err
		}
	}
	if err := t.index(m); err != nil {
		return err
	}
	return t.put(m)
}

// timeIndex is the index, if any, that holds a message in state st.
func (t *txn) timeIndex(m *Message) (*bolt.Bucket, []byte) {
	switch m.State {
	case Waiting, Deferred:
		return t.due, timeKey(m.Release, m.ID)
	case Queued:
		return t.ready, timeKey(m.Release, m.ID)
	case Delivered, Failed, Dropped:
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
	if err := t.states.Put(stateKey(m.State, m.ID), nil); err != nil {
		return err
	}
	return t.count(m.State, +1)
}

func (t *txn) unindex(m *Message) error {
	if b, k := t.timeIndex(m); b != nil {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if err := t.states.Delete(stateKey(m.State, m.ID)); err != nil {
		return err
	}
	return t.count(m.State, -1)
}

// remove deletes a message and everything that points at it.
func (t *txn) remove(m *Message) error {
	if err := t.unindex(m); err != nil {
		return err
	}
	if err := t.bodies.Delete(m.ID.key()); err != nil {
		return err
	}
	return t.msgs.Delete(m.ID.key())
}

func (t *txn) count(st State, delta int64) error {
	k := countKey(st)
	var n uint64
	if v := t.meta.Get(k); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	if delta < 0 && n < uint64(-delta) {
		return fmt.Errorf("spool counter %s would go below zero", st)
	}
	return t.meta.Put(k, u64(uint64(int64(n)+delta)))
}
