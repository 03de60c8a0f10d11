package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/spool/bolt"
	"github.com/holdrelay/relay/spool/kv"
)

// ErrClosed is returned by every operation after Close.
var ErrClosed = errors.New("spool is closed")

// ErrNotFound is returned for an ID the spool does not hold.
var ErrNotFound = errors.New("no such message")

// formatVersion is the spool file's format. 2 added outbox runs (one
// record for the events of a bulk change) and history kept in the
// record (codec tagHistory) for bulk changes. 3 keeps every history
// event in the record, numbered from meta's lastseq, and the main
// headers in the bodies bucket (headersKey): a relayd reading format 2
// would number its events below those, show no headers and find its
// Check failing, so it refuses the file instead. A file of an older
// format is a format-3 file with more of its history in the events
// bucket and its headers in the headers bucket, where the reads still
// look, so opening one only raises its number.
const formatVersion = 3

var (
	bucketMeta    = []byte("meta")
	bucketMsgs    = []byte("msgs")
	bucketBodies  = []byte("bodies")
	bucketStates  = []byte("states")
	bucketDue     = []byte("due")
	bucketReady   = []byte("ready")
	bucketDone    = []byte("done")
	bucketCreds   = []byte("creds")
	bucketHeaders = []byte("headers")
	bucketByCred  = []byte("bycred")
	bucketEvents  = []byte("events")
	bucketPauses  = []byte("pauses")
	bucketAudit   = []byte("audit")
	bucketFrozen  = []byte("frozen")
	bucketBatches = []byte("batches")
	bucketByBatch = []byte("bybatch")
	bucketByCat   = []byte("bycat")
	bucketOutbox  = []byte("outbox")
	bucketHooks   = []byte("webhooks")
	bucketDKIM    = []byte("dkim")
	bucketBrakes  = []byte("brakes")
	bucketTokens  = []byte("tokens") // runtime admin tokens: name -> AdminToken
	bucketSignIn  = []byte("signin") // console sign-in links: hex(sha256(code)) -> SignInLink
	bucketOwners  = []byte("owners") // a shared spool's sending messages: ID -> the node sending it (owners.go)

	allBuckets = [][]byte{bucketMeta, bucketMsgs, bucketBodies, bucketStates, bucketDue, bucketReady, bucketDone, bucketCreds,
		bucketHeaders, bucketByCred, bucketEvents, bucketPauses, bucketAudit, bucketFrozen,
		bucketBatches, bucketByBatch, bucketByCat, bucketOutbox, bucketHooks, bucketDKIM, bucketBrakes, bucketTokens, bucketSignIn, bucketOwners}

	keyVersion = []byte("version")
	keyLastID  = []byte("lastid")
	keyLastSeq = []byte("lastseq")
)

// maxGroup and maxGroupBytes bound how many writes, and how many bytes of
// bodies, share one transaction, so that a commit stays small.
const (
	maxGroup      = 256
	maxGroupBytes = 64 << 20
)

// Spool is an open spool. It is safe for concurrent use.
type Spool struct {
	db kv.DB

	mu     sync.RWMutex // guards closed and sends on writes
	closed bool
	writes chan *write
	loop   chan struct{} // closed when the commit loop has exited

	fault atomic.Pointer[commitFault] // tests only: see commitFault

	credAudits stagedAudits // see AuditCredential

	evMu sync.Mutex
	evCh chan struct{} // see EventsChanged; nil until someone asks

	// cl and owner are set on a shared spool (cluster.go, owners.go).
	cl    *cluster
	owner []byte
	// direct is set for a storage other than bbolt (see txn.direct).
	direct bool
}

type write struct {
	fn   func(t *txn) error
	size int // bytes of body the write adds
	done chan error
}

// Open opens (creating if needed) the bbolt spool file at path, mode
// 0600. Only one process can hold it: a second Open fails after a second.
// Messages left sending by a crash are queued again.
func Open(path string) (*Spool, error) {
	db, err := bolt.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := New(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return s, nil
}

// New opens the spool kept in db, which it closes on Close: it makes the
// buckets a new store lacks, checks the format, and queues again the
// messages a crash left sending.
func New(db kv.DB) (*Spool, error) {
	s := &Spool{db: db, writes: make(chan *write, maxGroup), loop: make(chan struct{})}
	_, onBolt := db.(*bolt.DB)
	s.direct = !onBolt
	c, shared := db.(kv.Cluster)
	if shared {
		s.owner = ownerValue(c.Self())
	}
	if p, ok := db.(interface{ Preload(buckets ...[]byte) }); ok {
		// Read by nearly every transaction: a driver that reads over the
		// network reads them in the round trip that begins it.
		p.Preload(bucketMeta, bucketPauses, bucketFrozen, bucketBrakes, bucketOwners)
	}
	if err := db.Update(s.initialize); err != nil {
		return nil, err
	}
	go s.commitLoop()
	if shared {
		s.startCluster(c)
	}
	return s, nil
}

func (s *Spool) initialize(tx kv.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(keyVersion); {
	case v == nil:
		if err := meta.Put(keyVersion, u64(formatVersion)); err != nil {
			return err
		}
	case binary.BigEndian.Uint64(v) < formatVersion:
		if err := meta.Put(keyVersion, u64(formatVersion)); err != nil {
			return err
		}
	case binary.BigEndian.Uint64(v) != formatVersion:
		return fmt.Errorf("spool format %d, this relayd reads %d (and older)", binary.BigEndian.Uint64(v), formatVersion)
	}
	t := s.wrap(tx)
	// A crash left its attempts sending. On a shared spool, only this
	// node's own (under its name, from an earlier boot) are known to be
	// over: another node's are taken over once its lease runs out.
	var mine func([]byte) bool
	if s.owner != nil {
		name := ownerName(s.owner)
		mine = func(v []byte) bool { return v == nil || ownerName(v) == name }
	}
	if _, err := requeueSending(t, "restart", mine); err != nil {
		return err
	}
	return t.flush()
}

// Close waits for queued writes to commit, then closes the file.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	s.stopCluster()
	<-s.loop
	return s.db.Close()
}

// update runs fn in a write transaction shared with other concurrent
// writers and returns once that transaction is durable. fn may run more
// than once (if another write in its group fails, the rest are retried
// without it), so it must only change the transaction and its own results.
func (s *Spool) update(fn func(t *txn) error) error {
	return s.updateSized(fn, 0)
}

// Probe makes a write transaction that changes nothing and returns once
// it is durable: it goes through the group commit and bbolt's synced
// commit as every write does, and fails as they would (ErrStorage on an
// I/O error, a read-only file system, a disk too full for the commit's
// pages). It is how readiness learns that the spool still takes writes.
func (s *Spool) Probe() error {
	return s.update(func(*txn) error { return nil })
}

// updateSized is update for a write that adds size bytes of body.
func (s *Spool) updateSized(fn func(t *txn) error, size int) error {
	w := &write{fn: fn, size: size, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.writes <- w
	s.mu.RUnlock()
	return <-w.done
}

// view runs fn in a read transaction. It holds the read lock throughout,
// so that Close waits for it rather than pulling the file from under it.
func (s *Spool) view(fn func(t *txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	err := s.db.View(func(tx kv.Tx) error { return fn(s.wrap(tx)) })
	if errors.Is(err, kv.ErrStorage) {
		return storageError(err)
	}
	return err
}

// wrap is the package's wrap with this spool's node.
func (s *Spool) wrap(tx kv.Tx) *txn {
	t := wrap(tx)
	t.owner, t.direct = s.owner, s.direct
	return t
}

func (s *Spool) commitLoop() {
	defer close(s.loop)
	group := make([]*write, 0, maxGroup)
	for w := range s.writes {
		group = append(group[:0], w)
		size := w.size
	drain:
		for len(group) < maxGroup && size < maxGroupBytes {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break drain
				}
				group = append(group, w)
				size += w.size
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits the group in one transaction. A write whose fn fails
// gets its error and is left out; the others are tried again without it.
// When the commit itself fails (disk full, I/O error), bbolt has rolled
// the transaction back and every write of the group gets ErrStorage: none
// of them happened, and the next group starts from the last good commit.
func (s *Spool) commitGroup(group []*write) {
	for len(group) > 0 {
		failed, emitted := -1, false
		err := s.db.Update(func(tx kv.Tx) error {
			var notices map[[2]string]bool
			for i, w := range group {
				t := s.wrap(tx)
				err := w.fn(t)
				if err == nil {
					err = t.flush()
				}
				if err != nil {
					failed = i
					return err
				}
				emitted = emitted || t.emitted > 0
				if notices == nil {
					notices = t.notices
				} else {
					maps.Copy(notices, t.notices)
				}
			}
			if err := s.injectedFault(); err != nil {
				return err
			}
			s.sendNotices(tx, notices, emitted)
			return nil
		})
		if failed < 0 || errors.Is(err, kv.ErrStorage) {
			// A storage failure overrides a write's own error: a read
			// that failed may be what made it fail.
			if err != nil {
				err = storageError(err)
			} else if emitted {
				s.eventsWritten()
			}
			for _, w := range group {
				w.done <- err
			}
			return
		}
		group[failed].done <- err
		group = append(group[:failed], group[failed+1:]...)
	}
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// timeKey is the 16-byte key of the due, ready and done indexes.
func timeKey(t time.Time, id ID) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(id))
	return b[:]
}

func splitTimeKey(k []byte) (time.Time, ID) {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), ID(binary.BigEndian.Uint64(k[8:]))
}

func stateKey(st State, id ID) []byte {
	var b [9]byte
	b[0] = byte(st)
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return b[:]
}

func countKey(st State) []byte { return []byte("n/" + st.String()) }
