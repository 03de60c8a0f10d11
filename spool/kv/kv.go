// Package kv is the contract between the spool and the storage under it:
// ordered buckets of byte keys and values, read in snapshots and written
// in transactions, one writer at a time. It is bbolt's shape, because the
// spool's rules were written against bbolt and are kept in one place (the
// spool package) rather than written again in SQL. Two drivers implement
// it: spool/bolt (a bbolt file) and spool/pg (PostgreSQL, shared by every
// relayd node started on the same database). kvtest is the conformance
// suite both pass.
//
// What a driver promises:
//
//   - DB.Update runs fn in a transaction that no other Update, in this
//     process or any other on the same storage, runs beside: writers see
//     each other's commits whole and in one order. When Update returns nil
//     the transaction is durable; when fn fails, nothing of it is kept and
//     fn's error is returned unchanged.
//   - DB.View runs fn on a consistent snapshot, beside writers.
//   - A value returned by Get or a cursor is valid until the transaction
//     ends and must not be changed.
//   - A failure of the storage itself (an I/O error, a lost connection, a
//     commit whose outcome could not be learnt) is returned wrapped in
//     ErrStorage, and overrides whatever fn returned: a read that failed
//     inside fn may have made fn decide on a wrong value.
//   - Keys are compared byte by byte; buckets are made by
//     CreateBucketIfNotExists in an Update before use.
package kv

import "errors"

// ErrStorage wraps every failure of the storage under the spool.
var ErrStorage = errors.New("storage failed")

// DB is an open store.
type DB interface {
	// Update runs fn in a write transaction and commits it if fn returns
	// nil (see the package doc).
	Update(fn func(Tx) error) error
	// View runs fn in a read-only snapshot.
	View(fn func(Tx) error) error
	Close() error
}

// Tx is a transaction.
type Tx interface {
	// Bucket returns the named bucket, nil if it does not exist.
	Bucket(name []byte) Bucket
	// CreateBucketIfNotExists makes the bucket (Update only).
	CreateBucketIfNotExists(name []byte) (Bucket, error)
}

// Bucket is an ordered map of byte keys to byte values.
type Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	Cursor() Cursor
	// ForEach calls fn for every pair in key order; fn must not change
	// the bucket.
	ForEach(fn func(k, v []byte) error) error
	// Sequence is the bucket's counter; NextSequence raises it by one.
	Sequence() uint64
	NextSequence() (uint64, error)
	SetSequence(v uint64) error
}

// Cursor walks a bucket in key order. Each move returns nil, nil past
// either end. A cursor sees its own transaction's writes.
type Cursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	Next() (key, value []byte)
	Prev() (key, value []byte)
	// Seek moves to key, or the first key after it.
	Seek(key []byte) (k, v []byte)
	// Delete removes the pair the cursor is on. Where the cursor is
	// afterwards is bbolt's business (its Next may skip a pair once the
	// page was changed in the transaction): Seek again before moving on.
	Delete() error
}

// Prefetcher is an optional Tx method: a hint that the transaction will
// Get these keys of bucket, so that a driver that reads over the network
// reads them in one round trip. bbolt does not need it.
type Prefetcher interface {
	Prefetch(bucket []byte, keys [][]byte)
}
