// Package bolt is the spool's embedded storage: a bbolt file, the
// default. It is a thin kv driver: bbolt already has kv's shape (one
// writer, snapshots for readers, fsynced commits), so each type here is
// bbolt's own under another name, converted without a copy.
package bolt

import (
	"errors"
	"fmt"
	"io"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/holdrelay/relay/spool/kv"
)

// initialMmapSize is the file's first memory map; see Open.
const initialMmapSize = 1 << 30

// DB is an open spool file.
type DB struct{ db *bbolt.DB }

var _ kv.DB = (*DB)(nil)

// Open opens (creating if needed) the file at path, mode 0600. Only one
// process can hold it: a second Open fails after a second.
func Open(path string) (*DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: time.Second,
		// The hashmap freelist finds a run of free pages in constant time;
		// the default array scans the whole list on every allocation,
		// which a spool that deletes bodies all day makes long. The
		// freelist is still written at every commit (NoFreelistSync
		// would make every start rebuild it by reading the whole file:
		// seconds with a million messages spooled).
		FreelistType: bbolt.FreelistMapType,
		// Map a gigabyte of address space from the start (it costs no
		// memory until pages are read): each time bbolt must map a larger
		// file, the write transaction copies every node it holds, which
		// was a third of a 100,000-message hold.
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open spool %s: locked by another process (is relayd already running?)", path)
		}
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Bolt is the bbolt handle, for tests and tools that need its statistics.
func (d *DB) Bolt() *bbolt.DB { return d.db }

func (d *DB) Update(fn func(kv.Tx) error) error {
	return d.db.Update(func(t *bbolt.Tx) error { return fn((*tx)(t)) })
}

func (d *DB) View(fn func(kv.Tx) error) error {
	return d.db.View(func(t *bbolt.Tx) error { return fn((*tx)(t)) })
}

func (d *DB) Close() error { return d.db.Close() }

// Backup writes a consistent copy of the whole file to w: a bbolt file
// that Open takes as it is, as of the moment Backup began. It reads in
// one read transaction, so accepting and delivering go on meanwhile
// (bbolt's writers do not wait for readers), with one exception: a commit
// that must map a larger file (past the first 1 GiB, then each further
// GiB) waits until every read transaction has ended, so a copy to a slow
// writer then stalls every write until it ends. The pages the copy still
// needs are kept until it ends, so the file may grow while a slow copy
// runs. began, if not nil, learns the copy's size before the first byte
// is written.
func (d *DB) Backup(w io.Writer, began func(size int64)) (int64, error) {
	var n int64
	err := d.db.View(func(t *bbolt.Tx) error {
		if began != nil {
			began(t.Size())
		}
		var err error
		n, err = t.WriteTo(w)
		return err
	})
	return n, err
}

type tx bbolt.Tx

func (t *tx) Bucket(name []byte) kv.Bucket {
	b := (*bbolt.Tx)(t).Bucket(name)
	if b == nil {
		return nil
	}
	return (*bucket)(b)
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := (*bbolt.Tx)(t).CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return (*bucket)(b), nil
}

type bucket bbolt.Bucket

func (b *bucket) raw() *bbolt.Bucket                       { return (*bbolt.Bucket)(b) }
func (b *bucket) Get(k []byte) []byte                      { return b.raw().Get(k) }
func (b *bucket) Put(k, v []byte) error                    { return b.raw().Put(k, v) }
func (b *bucket) Delete(k []byte) error                    { return b.raw().Delete(k) }
func (b *bucket) Cursor() kv.Cursor                        { return (*cursor)(b.raw().Cursor()) }
func (b *bucket) ForEach(fn func(k, v []byte) error) error { return b.raw().ForEach(fn) }
func (b *bucket) Sequence() uint64                         { return b.raw().Sequence() }
func (b *bucket) NextSequence() (uint64, error)            { return b.raw().NextSequence() }
func (b *bucket) SetSequence(v uint64) error               { return b.raw().SetSequence(v) }

type cursor bbolt.Cursor

func (c *cursor) raw() *bbolt.Cursor             { return (*bbolt.Cursor)(c) }
func (c *cursor) First() ([]byte, []byte)        { return c.raw().First() }
func (c *cursor) Last() ([]byte, []byte)         { return c.raw().Last() }
func (c *cursor) Next() ([]byte, []byte)         { return c.raw().Next() }
func (c *cursor) Prev() ([]byte, []byte)         { return c.raw().Prev() }
func (c *cursor) Seek(k []byte) ([]byte, []byte) { return c.raw().Seek(k) }
func (c *cursor) Delete() error                  { return c.raw().Delete() }
