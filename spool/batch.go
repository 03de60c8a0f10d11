package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// A batch groups messages that name the same batch ID (SendGrid's
// batch_id). Its status applies to the messages already spooled and to
// those that arrive later: a paused batch's messages arrive held and are
// never claimed; a cancelled batch's messages are dropped on arrival.
type Batch struct {
	ID      string      `json:"batch_id"`
	Status  BatchStatus `json:"status,omitempty"`
	Created time.Time   `json:"created"`
	// Announced marks a batch registered before its first message
	// (CreateBatch), not by it: how an application announces a bulk
	// send, whose messages the brake's rate trigger does not count.
	Announced bool `json:"announced,omitempty"`
	// Updated, Actor and Reason describe the last status change.
	Updated time.Time `json:"updated,omitzero"`
	Actor   string    `json:"actor,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Messages is how many messages on record name the batch; filled in
	// by GetBatch and Batches, never stored.
	Messages int `json:"-"`
	// Unreadable marks a batch whose record could not be decoded: it
	// counts as paused until its status is set again, since a tool whose
	// job is to stop mail must not let it go when in doubt.
	Unreadable bool `json:"-"`
}

// decodeBatch reads the batch stored under id, failing closed.
func decodeBatch(id string, v []byte) *Batch {
	var b Batch
	if json.Unmarshal(v, &b) != nil {
		b = Batch{ID: id, Status: BatchPaused, Actor: "spool", Reason: "unreadable batch record", Unreadable: true}
	}
	return &b
}

// BatchStatus is SendGrid's word for what is asked of a batch.
type BatchStatus string

const (
	BatchActive    BatchStatus = ""
	BatchPaused    BatchStatus = "pause"
	BatchCancelled BatchStatus = "cancel"
)

// ErrBatchExists is returned by CreateBatch for an ID already known.
var ErrBatchExists = errors.New("batch already exists")

// ErrNoBatch is returned for a batch ID the spool does not know.
var ErrNoBatch = errors.New("no such batch")

func (t *txn) batch(id string) *Batch {
	v := t.batches.Get([]byte(id))
	if v == nil {
		return nil
	}
	return decodeBatch(id, v)
}

func (t *txn) putBatch(b *Batch) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return t.batches.Put([]byte(b.ID), v)
}

// batchPause is the pause a paused batch puts on its messages.
func (b *Batch) pause() *Pause {
	return &Pause{Batch: b.ID, Reason: b.Reason, Actor: b.Actor, Since: b.Updated}
}

// CreateBatch registers a new batch. Messages may also name a batch that
// was never created: it is registered when the first of them arrives.
// rec, if set, is the audit entry written with it.
func (s *Spool) CreateBatch(id string, now time.Time, rec *AuditEntry) (Batch, error) {
	b := Batch{ID: id, Created: now, Announced: true}
	err := s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		if t.batch(id) != nil {
			return fmt.Errorf("%s: %w", id, ErrBatchExists)
		}
		return t.putBatch(&b)
	})
	return b, err
}

// Announced reports whether batch id exists and whether it was
// registered before its first message (CreateBatch). It reads one
// record: cheap enough to ask for a batch the first time the intake
// sees it.
func (s *Spool) Announced(id string) (announced, exists bool, err error) {
	err = s.view(func(t *txn) error {
		b := t.batch(id)
		exists = b != nil
		announced = exists && b.Announced && !b.Unreadable
		return nil
	})
	return announced, exists, err
}

// GetBatch returns one batch.
func (s *Spool) GetBatch(id string) (Batch, error) {
	var b Batch
	err := s.view(func(t *txn) error {
		p := t.batch(id)
		if p == nil {
			return fmt.Errorf("%s: %w", id, ErrNoBatch)
		}
		b = *p
		b.Messages = t.batchSize(id)
		return nil
	})
	return b, err
}

func (t *txn) batchSize(id string) int {
	n := 0
	prefix := append([]byte(id), 0)
	c := t.bybatch.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// Batches lists known batches in ID order; with onlyStatus, only those
// paused or cancelled.
func (s *Spool) Batches(onlyStatus bool) ([]Batch, error) {
	var out []Batch
	err := s.view(func(t *txn) error {
		out = out[:0]
		return t.batches.ForEach(func(k, v []byte) error {
			b := *decodeBatch(string(k), v)
			if !onlyStatus || b.Status != BatchActive {
				b.Messages = t.batchSize(b.ID)
				out = append(out, b)
			}
			return nil
		})
	})
	return out, err
}

// SetBatchStatus records what is asked of a batch (creating it if need
// be) and returns its previous status. It changes no message: callers
// follow it with PauseBatch's hold, a DropWait or ResumeBatch's release,
// which find the status already in force for anything arriving meanwhile.
// ev.Audit, if set, is written with the status.
func (s *Spool) SetBatchStatus(id string, st BatchStatus, ev Event) (prev BatchStatus, err error) {
	err = s.updateAudited(ev.Audit, func(t *txn, _ *AuditEntry) error {
		b := t.batch(id)
		if b == nil || b.Unreadable {
			b = &Batch{ID: id, Created: ev.Time}
		}
		prev = b.Status
		b.Status, b.Updated, b.Actor, b.Reason = st, ev.Time, ev.Actor, ev.Reason
		if err := t.putBatch(b); err != nil {
			return err
		}
		return t.emitBatch(b, prev)
	})
	return prev, err
}

// HoldBatch holds the pending messages of a paused batch and returns how
// many it held, counting them into rec if set.
func (s *Spool) HoldBatch(id string, rec *AuditEntry) (int, error) {
	b, err := s.GetBatch(id)
	if err != nil {
		return 0, err
	}
	if b.Status != BatchPaused {
		return 0, nil
	}
	res, err := s.apply(Selector{Batch: id, All: true}, pauseHold{b.pause()}, false, rec)
	return res.Count(Changed), err
}

// ReleaseBatch puts back on schedule the messages a lifted batch pause
// held, unless another pause still covers them, and returns how many,
// counting them into ev.Audit if set.
func (s *Spool) ReleaseBatch(id string, ev Event) (int, error) {
	sel := Selector{Batch: id, All: true, States: []State{Held}}
	ev.cause = causeBatch
	res, err := s.apply(sel, pauseRelease{now: ev.Time, ev: ev}, false, ev.Audit)
	return res.Count(Changed), err
}

// batchBlock returns the pause a message's batch puts on it, if the batch
// is paused or cancelled (a cancelled batch's messages are being dropped:
// none may start an attempt meanwhile).
func (t *txn) batchBlock(m *Message) *Pause {
	if m.Batch == "" {
		return nil
	}
	b := t.batch(m.Batch)
	if b == nil || b.Status == BatchActive {
		return nil
	}
	return b.pause()
}

// cancelled reports whether a message's batch is cancelled.
func (t *txn) cancelled(m *Message) (*Batch, bool) {
	if m.Batch == "" {
		return nil, false
	}
	b := t.batch(m.Batch)
	return b, b != nil && b.Status == BatchCancelled
}

func groupKey(name string, id ID) []byte { return credKey(name, id) }

// groupIndex adds (or removes) a message's batch and category entries.
func (t *txn) groupIndex(m *Message, add bool) error {
	put := func(b kv.Bucket, name string) error {
		if add {
			return b.Put(groupKey(name, m.ID), nil)
		}
		return b.Delete(groupKey(name, m.ID))
	}
	if m.Batch != "" {
		if err := put(t.bybatch, m.Batch); err != nil {
			return err
		}
	}
	for _, c := range slices.Compact(slices.Sorted(slices.Values(m.Categories))) {
		if err := put(t.bycat, c); err != nil {
			return err
		}
	}
	return nil
}

// groupPrefix is the narrowest name index that covers a selector: its
// batch, its category, or its credential; nil when none applies.
func (t *txn) groupPrefix(sel Selector) (kv.Bucket, []byte) {
	switch {
	case sel.Batch != "":
		return t.bybatch, append([]byte(sel.Batch), 0)
	case sel.Category != "":
		return t.bycat, append([]byte(sel.Category), 0)
	case sel.Credential != "":
		return t.bycred, append([]byte(sel.Credential), 0)
	}
	return nil, nil
}

// batchEvents names the event of each status a batch enters.
var batchEvents = map[BatchStatus]string{BatchPaused: EvBatchPaused, BatchCancelled: EvBatchCancelled, BatchActive: EvBatchResumed}

// emitBatch reports a batch's new status; setting the status it had
// already changes nothing, and reports nothing.
func (t *txn) emitBatch(b *Batch, prev BatchStatus) error {
	if b.Status == prev {
		return nil
	}
	d := adminData{BatchID: b.ID, Actor: eventActor(b.Actor), Reason: b.Reason}
	_, err := t.emitJSON(batchEvents[b.Status], b.Updated, d, "")
	return err
}
