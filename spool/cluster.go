package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// Node is one relayd sharing the spool.
type Node = kv.Node

// Record kinds that RecordsChanged carries: another node changed records
// that each node keeps a copy of in memory.
const (
	RecordsCredentials = "credentials"
	RecordsDKIM        = "dkim"
	RecordsTokens      = "tokens"
	RecordsWebhooks    = "webhooks"
)

// cutScan is how often a node looks over its own attempts: for Intents,
// whether told or not (a notice can be lost with a connection), and for
// orphans (see Running).
var cutScan = 5 * time.Second

// cluster is a shared spool's state.
type cluster struct {
	db      kv.Cluster
	self    kv.Node
	cuts    chan []ID
	records chan string
	stop    chan struct{}
	done    chan struct{}
	// running is Running's function; orphans are the attempts the last
	// scan found sending here but not running, with their numbers.
	running atomic.Pointer[func(ID) bool]
	orphans map[ID]int
}

// Running tells a shared spool whether this node runs an attempt of a
// message (the dispatcher registers its attempts before their claim
// commits). An attempt that the spool shows sending here, but that is not
// running in two scans in a row, is an orphan — a claim whose commit was
// reported failed although it happened (its outcome could not be learnt
// in time) — and is queued again as interrupted, rather than left
// sending until this node restarts. A spool of one node does without.
func (s *Spool) Running(f func(ID) bool) {
	if s.cl != nil {
		s.cl.running.Store(&f)
	}
}

// Clustered reports whether other relayd nodes may share this spool.
func (s *Spool) Clustered() bool { return s.cl != nil }

// Nodes lists the nodes sharing the spool; nil on a spool of one node.
func (s *Spool) Nodes() ([]Node, error) {
	if s.cl == nil {
		return nil, nil
	}
	return s.cl.db.Nodes()
}

// Cuts carries the IDs of messages this node is sending that an operator
// on another node dropped or held (they carry an Intent): the dispatcher
// aborts their attempts, as it does for its own operators. Nil on a spool
// of one node.
func (s *Spool) Cuts() <-chan []ID {
	if s.cl == nil {
		return nil
	}
	return s.cl.cuts
}

// RecordsChanged carries a kind (RecordsCredentials, ...) when another
// node changed records of that kind, and "" when changes may have been
// missed (all kinds). Nil on a spool of one node.
func (s *Spool) RecordsChanged() <-chan string {
	if s.cl == nil {
		return nil
	}
	return s.cl.records
}

// Lead blocks until this node holds the cluster-wide lock called name,
// and returns a context that ends when it loses it; on a spool of one
// node it returns ctx at once. Work that must run on one node only
// (webhook delivery) runs under it.
func (s *Spool) Lead(ctx context.Context, name string) (context.Context, error) {
	if s.cl == nil {
		return ctx, nil
	}
	return s.cl.db.Lead(ctx, name)
}

func (s *Spool) startCluster(c kv.Cluster) {
	s.cl = &cluster{db: c, self: c.Self(), cuts: make(chan []ID, 16), records: make(chan string, 16),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.owner = ownerValue(s.cl.self)
	go s.clusterLoop()
}

// stopCluster ends clusterLoop; Close calls it before the last commits.
func (s *Spool) stopCluster() {
	if s.cl != nil {
		close(s.cl.stop)
		<-s.cl.done
	}
}

// clusterLoop answers other nodes' notices and takes over dead nodes.
func (s *Spool) clusterLoop() {
	defer close(s.cl.done)
	reap := max(s.cl.self.Lease/3, 100*time.Millisecond)
	reapT, scanT := time.NewTicker(reap), time.NewTicker(cutScan)
	defer reapT.Stop()
	defer scanT.Stop()
	missed := false // a records notice found the channel full
	for {
		select {
		case <-s.cl.stop:
			return
		case n := <-s.cl.db.Notices():
			switch n.Channel {
			case "":
				s.eventsWritten()
				missed = !s.recordsChanged("") || missed
				s.scanCuts()
			case noticeCut:
				if n.Payload == s.cl.self.Name {
					s.scanCuts()
				}
			case noticeEvents:
				s.eventsWritten()
			case noticeRecords:
				missed = !s.recordsChanged(n.Payload) || missed
			}
		case <-scanT.C:
			s.scanCuts()
			if missed {
				missed = !s.recordsChanged("")
			}
		case <-reapT.C:
			s.takeOverDead()
		}
	}
}

func (s *Spool) recordsChanged(kind string) bool {
	select {
	case s.cl.records <- kind:
		return true
	default:
		return false
	}
}

// scanCuts sends the dispatcher this node's attempts that carry an
// Intent, and queues again its orphans (see Running).
func (s *Spool) scanCuts() {
	var ids []ID
	running := s.cl.running.Load()
	orphans := map[ID]int{}
	err := s.view(func(t *txn) error {
		return t.owners.ForEach(func(k, v []byte) error {
			if !bytes.Equal(v, s.owner) {
				return nil
			}
			m, err := t.get(idFromKey(k))
			switch {
			case err != nil || m.State != Sending:
			case m.Intent != nil:
				ids = append(ids, m.ID)
			case running != nil && !(*running)(m.ID):
				orphans[m.ID] = m.Attempts
			}
			return nil
		})
	})
	if err != nil {
		return // the next scan tries again
	}
	s.requeueOrphans(orphans, running)
	if len(ids) == 0 {
		return
	}
	select {
	case s.cl.cuts <- ids:
	default:
	}
}

// requeueOrphans queues again the attempts found orphaned by this scan
// and the last one alike, checking again under the lock.
func (s *Spool) requeueOrphans(found map[ID]int, running *func(ID) bool) {
	last := s.cl.orphans
	s.cl.orphans = found
	var twice []ID
	for id, n := range found {
		if m, ok := last[id]; ok && m == n {
			twice = append(twice, id)
		}
	}
	if len(twice) == 0 {
		return
	}
	s.update(func(t *txn) error {
		now := time.Now()
		for _, id := range twice {
			m, err := t.get(id)
			if err != nil || m.State != Sending || m.Attempts != found[id] || (*running)(id) ||
				!bytes.Equal(t.lookup(t.owners, id.key()), s.owner) {
				continue
			}
			if err := t.requeue(&m, "dispatcher", now); err != nil {
				return err
			}
		}
		return nil
	})
}

// takeOverDead queues again, as interrupted, the attempts of every node
// whose lease ran out, and records who did it in the audit log.
func (s *Spool) takeOverDead() {
	dead, err := s.cl.db.Dead()
	if err != nil {
		return
	}
	for _, n := range dead {
		owner := ownerValue(n)
		var ids []ID
		err := s.update(func(t *txn) error {
			// Asked again under the writers' lock, so that a node whose
			// heartbeat came back meanwhile keeps its attempts.
			if !s.stillDead(n) {
				ids = nil
				return errAlive
			}
			var err error
			ids, err = requeueSending(t, "takeover", func(v []byte) bool { return bytes.Equal(v, owner) })
			if err != nil {
				return err
			}
			return t.putAudit(&AuditEntry{Time: time.Now(), Actor: "node:" + s.cl.self.Name, Action: "takeover",
				Selector: "node=" + n.Name, Counts: map[string]int{"interrupted": len(ids)},
				Detail: fmt.Sprintf("node %s (boot %s) silent past its lease of %s", n.Name, n.Boot, n.Lease)})
		})
		if err == nil {
			s.cl.db.Reaped(n)
		}
	}
}

// ErrCut is PassDot's refusal: the attempt must end before its dot.
var ErrCut = errors.New("an operator stopped this attempt")

// PassDot is the gate an attempt passes just before its end-of-data dot
// (upstream.Envelope.BeforeDot). On a shared spool it is a transaction
// under the writer lock that every drop and hold also takes, so exactly
// one of the two comes first: a drop committed before it makes the gate
// refuse (ErrCut: the transfer is cut, the message dropped); a drop after
// it finds the dot out and waits for the outcome. It writes nothing, so
// on PostgreSQL its commit waits for no WAL flush. On a spool of one node
// the dispatcher's own abort, registered in the claim, does this: nil.
func (s *Spool) PassDot(id ID, attempt int) error {
	if s.cl == nil {
		return nil
	}
	return s.update(func(t *txn) error {
		m, err := t.get(id)
		if err != nil {
			return err
		}
		if m.State != Sending || m.Attempts != attempt || m.Intent != nil ||
			!bytes.Equal(t.lookup(t.owners, id.key()), s.owner) {
			return ErrCut
		}
		return nil
	})
}

var errAlive = errors.New("the node is alive again")

func (s *Spool) stillDead(n Node) bool {
	dead, err := s.cl.db.Dead()
	return err == nil && slices.ContainsFunc(dead, func(d Node) bool { return d.Name == n.Name && d.Boot == n.Boot })
}

// awaitSettled waits until none of ids is sending on another node, for
// at most the longest lease and a margin: a transfer that another node
// was told to cut ends there, and a dead node's is taken over by then.
func (s *Spool) awaitSettled(ids []ID) {
	if s.cl == nil {
		return
	}
	// The longest lease in the cluster: the owner may have a longer one
	// than this node.
	lease := s.cl.self.Lease
	if nodes, err := s.cl.db.Nodes(); err == nil {
		for _, n := range nodes {
			lease = max(lease, n.Lease)
		}
	}
	deadline := time.Now().Add(lease + 10*time.Second)
	for _, id := range ids {
		for time.Now().Before(deadline) && s.sendingElsewhere(id) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// sendingElsewhere reports whether another node runs id's attempt. This
// node's own attempts have ended by the time abort returns, or are past
// their dot and waiting for a reply: waiting longer tells nothing.
func (s *Spool) sendingElsewhere(id ID) bool {
	elsewhere := false
	err := s.view(func(t *txn) error {
		v := t.owners.Get(id.key())
		elsewhere = v != nil && !bytes.Equal(v, s.owner)
		return nil
	})
	return err == nil && elsewhere
}

// sendNotices hands a commit's notices to the storage, which sends them
// to the other nodes if the commit succeeds.
func (s *Spool) sendNotices(tx kv.Tx, notices map[[2]string]bool, emitted bool) {
	if s.cl == nil {
		return
	}
	n, ok := tx.(kv.Notifier)
	if !ok {
		return
	}
	for k := range notices {
		n.Notify(k[0], k[1])
	}
	if emitted {
		n.Notify(noticeEvents, "")
	}
}
