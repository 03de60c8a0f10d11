package pg

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/google/btree"
	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/spool/kv"
)

var (
	errNotWritable = errors.New("pg: read-only transaction")
	errKeyRequired = errors.New("pg: key required")
	// PostgreSQL's btree index refuses an entry larger than a third of a
	// page (about 2.7 kB); refusing at Put rather than at commit tells the
	// caller which key it was.
	errKeyTooLarge = errors.New("pg: key too large")
)

const maxKey = 2048

// row is a pair as stored in PostgreSQL.
type row struct{ k, v []byte }

// entry is a write of the transaction not yet sent: a new value, or a
// deletion.
type entry struct {
	k, v []byte
	del  bool
}

func entryLess(a, b entry) bool { return bytes.Compare(a.k, b.k) < 0 }

// overlay holds a bucket's writes in key order, so that cursors can merge
// them with the stored rows. The zero value is empty.
type overlay struct{ t *btree.BTreeG[entry] }

func (o *overlay) set(e entry) {
	if o.t == nil {
		o.t = btree.NewG(16, entryLess)
	}
	o.t.ReplaceOrInsert(e)
}

func (o *overlay) get(k []byte) (entry, bool) {
	if o.t == nil {
		return entry{}, false
	}
	return o.t.Get(entry{k: k})
}

func (o *overlay) len() int {
	if o.t == nil {
		return 0
	}
	return o.t.Len()
}

// up is the first entry after k (from k on if incl; from the start if k
// is nil).
func (o *overlay) up(k []byte, incl bool) (e entry, ok bool) {
	if o.t == nil {
		return entry{}, false
	}
	if k == nil {
		return o.t.Min()
	}
	o.t.AscendGreaterOrEqual(entry{k: k}, func(x entry) bool {
		if !incl && bytes.Equal(x.k, k) {
			return true
		}
		e, ok = x, true
		return false
	})
	return e, ok
}

// down is the last entry before k (up to k if incl; from the end if k is
// nil).
func (o *overlay) down(k []byte, incl bool) (e entry, ok bool) {
	if o.t == nil {
		return entry{}, false
	}
	if k == nil {
		return o.t.Max()
	}
	o.t.DescendLessOrEqual(entry{k: k}, func(x entry) bool {
		if !incl && bytes.Equal(x.k, k) {
			return true
		}
		e, ok = x, true
		return false
	})
	return e, ok
}

// cached is a stored value read by this transaction; ok false records
// that the key is not stored.
type cached struct {
	v  []byte
	ok bool
}

// bucket is a bucket as one transaction sees it: the stored rows, what
// the transaction has read of them, and its own writes over them. Reads
// may be cached for the whole transaction because nothing else changes
// the stored rows meanwhile: an Update holds the writers' lock, a View
// reads one snapshot.
type bucket struct {
	t      *tx
	name   string
	seq    uint64
	seqSet bool
	ov     overlay
	cache  map[string]cached
	// whole: stored holds every stored row (a preloaded bucket), and no
	// read needs PostgreSQL.
	whole  bool
	stored []row
}

func (b *bucket) table() string { return "kv_" + b.name }

func (b *bucket) Get(k []byte) []byte {
	if b.t.err != nil {
		return nil
	}
	if e, ok := b.ov.get(k); ok {
		if e.del {
			return nil
		}
		return e.v
	}
	if b.whole {
		i, ok := search(b.stored, k)
		if !ok {
			return nil
		}
		return b.stored[i].v
	}
	if c, ok := b.cache[string(k)]; ok {
		return c.v
	}
	var v []byte
	err := b.t.conn.QueryRow(b.t.ctx, "SELECT v FROM "+b.table()+" WHERE k = $1", k).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		b.remember(k, nil, false)
		return nil
	case err != nil:
		b.t.fail(fmt.Errorf("get from %s: %w", b.name, err))
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	b.remember(k, v, true)
	return v
}

func (b *bucket) remember(k, v []byte, ok bool) {
	if b.cache == nil {
		b.cache = make(map[string]cached)
	}
	b.cache[string(k)] = cached{v: v, ok: ok}
}

// search finds k in rows sorted by key: its index, or where it would go.
func search(rows []row, k []byte) (int, bool) {
	i := sort.Search(len(rows), func(i int) bool { return bytes.Compare(rows[i].k, k) >= 0 })
	return i, i < len(rows) && bytes.Equal(rows[i].k, k)
}

func (b *bucket) writable() error {
	if b.t.err != nil {
		return b.t.err
	}
	if !b.t.write {
		return errNotWritable
	}
	return nil
}

func (b *bucket) Put(k, v []byte) error {
	if err := b.writable(); err != nil {
		return err
	}
	if err := checkKey(k); err != nil {
		return err
	}
	// One allocation holds both copies: the caller may reuse its slices.
	buf := make([]byte, len(k)+len(v))
	copy(buf, k)
	copy(buf[len(k):], v)
	b.ov.set(entry{k: buf[:len(k):len(k)], v: buf[len(k):]})
	return nil
}

func checkKey(k []byte) error {
	switch {
	case len(k) == 0:
		return errKeyRequired
	case len(k) > maxKey:
		return errKeyTooLarge
	}
	return nil
}

func (b *bucket) Delete(k []byte) error {
	if err := b.writable(); err != nil {
		return err
	}
	if len(k) == 0 || len(k) > maxKey {
		return nil // never stored
	}
	b.ov.set(entry{k: bytes.Clone(k), del: true})
	return nil
}

func (b *bucket) Cursor() kv.Cursor { return b.cursor() }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *bucket) Sequence() uint64 { return b.seq }

func (b *bucket) NextSequence() (uint64, error) {
	if err := b.writable(); err != nil {
		return 0, err
	}
	b.seq++
	b.seqSet = true
	return b.seq, nil
}

func (b *bucket) SetSequence(v uint64) error {
	if err := b.writable(); err != nil {
		return err
	}
	b.seq, b.seqSet = v, true
	return nil
}

// flush queues the statements that store the bucket's writes.
func (b *bucket) flush(q *pgx.Batch) {
	if b.ov.len() == 0 {
		return
	}
	var pk, pv, dk [][]byte
	b.ov.t.Ascend(func(e entry) bool {
		if e.del {
			dk = append(dk, e.k)
		} else {
			pk, pv = append(pk, e.k), append(pv, e.v)
		}
		return true
	})
	if len(pk) > 0 {
		q.Queue("INSERT INTO "+b.table()+" (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) "+
			"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", pk, pv)
	}
	if len(dk) > 0 {
		q.Queue("DELETE FROM "+b.table()+" WHERE k = ANY($1::bytea[])", dk)
	}
}
