package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by every operation after Close.
var ErrClosed = errors.New("spool is closed")

// ErrNotFound is returned for an ID the spool does not hold.
var ErrNotFound = errors.New("no such message")

// formatVersion is the spool file's format. 2 added outbox runs (one
// record for the events of a bulk change) and history kept in the
// record (codec tagHistory), which a relayd reading format 1 would
// misread: it refuses the file instead. A format-1 file is format 2
// without those records, so opening one only raises its number.
const formatVersion = 2

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

	allBuckets = [][]byte{bucketMeta, bucketMsgs, bucketBodies, bucketStates, bucketDue, bucketReady, bucketDone, bucketCreds,
		bucketHeaders, bucketByCred, bucketEvents, bucketPauses, bucketAudit, bucketFrozen,
		bucketBatches, bucketByBatch, bucketByCat, bucketOutbox, bucketHooks, bucketDKIM, bucketBrakes, bucketTokens, bucketSignIn}

	keyVersion = []byte("version")
	keyLastID  = []byte("lastid")
)

// maxGroup and maxGroupBytes bound how many writes, and how many bytes of
// bodies, share one transaction, so that a commit stays small.
const (
	maxGroup      = 256
	maxGroupBytes = 64 << 20
)

// initialMmapSize is the spool's first memory map; see Open.
const initialMmapSize = 1 << 30

// Spool is an open spool file. It is safe for concurrent use.
type Spool struct {
	db *bolt.DB

	mu     sync.RWMutex // guards closed and sends on writes
	closed bool
	writes chan *write
	loop   chan struct{} // closed when the commit loop has exited

	fault atomic.Pointer[commitFault] // tests only: see commitFault

	credAudits stagedAudits // see AuditCredential

	evMu sync.Mutex
	evCh chan struct{} // see EventsChanged; nil until someone asks
}

type write struct {
	fn   func(t *txn) error
	size int // bytes of body the write adds
	done chan error
}

// Open opens (creating if needed) the spool file at path, mode 0600. Only
// one process can hold it: a second Open fails after a second. Messages
// left sending by a crash are queued again.
func Open(path string) (*Spool, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// The hashmap freelist finds a run of free pages in constant time;
		// the default array scans the whole list on every allocation,
		// which a spool that deletes bodies all day makes long. The
		// freelist is still written at every commit (NoFreelistSync
		// would make every start rebuild it by reading the whole file:
		// seconds with a million messages spooled).
		FreelistType: bolt.FreelistMapType,
		// Map a gigabyte of address space from the start (it costs no
		// memory until pages are read): each time bbolt must map a larger
		// file, the write transaction copies every node it holds, which
		// was a third of a 100,000-message hold.
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open spool %s: locked by another process (is relayd already running?)", path)
		}
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	s := &Spool{db: db, writes: make(chan *write, maxGroup), loop: make(chan struct{})}
	if err := db.Update(s.initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

func (s *Spool) initialize(tx *bolt.Tx) error {
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
	case binary.BigEndian.Uint64(v) == 1:
		if err := meta.Put(keyVersion, u64(formatVersion)); err != nil {
			return err
		}
	case binary.BigEndian.Uint64(v) != formatVersion:
		return fmt.Errorf("spool format %d, this relayd reads %d (and 1)", binary.BigEndian.Uint64(v), formatVersion)
	}
	t := wrap(tx)
	if err := requeueSending(t); err != nil {
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
	return s.db.View(func(tx *bolt.Tx) error { return fn(wrap(tx)) })
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
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, w := range group {
				t := wrap(tx)
				err := w.fn(t)
				if err == nil {
					err = t.flush()
				}
				if err != nil {
					failed = i
					return err
				}
				emitted = emitted || t.emitted > 0
			}
			return s.injectedFault()
		})
		if failed < 0 {
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
