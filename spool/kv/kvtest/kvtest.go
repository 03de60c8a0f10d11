// Package kvtest is the conformance suite of kv drivers: every driver's
// tests call Run, so that the spool's rules, written once against kv,
// hold on each storage alike.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/holdrelay/relay/spool/kv"
)

// Buckets are the names of the buckets the suite uses, for a driver
// that wants to run it with them preloaded.
var Buckets = [][]byte{[]byte("b"), []byte("other"), []byte("counter"), []byte("model")}

// Run runs the suite; open returns an empty store, closed by the caller's
// cleanup.
func Run(t *testing.T, open func(t *testing.T) kv.DB) {
	t.Run("Buckets", func(t *testing.T) { testBuckets(t, open(t)) })
	t.Run("PutGetDelete", func(t *testing.T) { testPutGetDelete(t, open(t)) })
	t.Run("FailedUpdateKeepsNothing", func(t *testing.T) { testRollback(t, open(t)) })
	t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, open(t)) })
	t.Run("Cursor", func(t *testing.T) { testCursor(t, open(t)) })
	t.Run("CursorDelete", func(t *testing.T) { testCursorDelete(t, open(t)) })
	t.Run("ForEach", func(t *testing.T) { testForEach(t, open(t)) })
	t.Run("Sequence", func(t *testing.T) { testSequence(t, open(t)) })
	t.Run("Snapshot", func(t *testing.T) { testSnapshot(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Model", func(t *testing.T) { testModel(t, open(t)) })
}

func update(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// create makes the named buckets.
func create(t *testing.T, db kv.DB, names ...string) {
	t.Helper()
	update(t, db, func(tx kv.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// fill puts key=value pairs ("k1", "v1", "k2", "v2", ...) into bucket b.
func fill(t *testing.T, db kv.DB, b string, kvs ...string) {
	t.Helper()
	update(t, db, func(tx kv.Tx) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Bucket([]byte(b)).Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// dump is bucket b's content as "k=v k=v".
func dump(t *testing.T, tx kv.Tx, b string) string {
	t.Helper()
	var out []byte
	err := tx.Bucket([]byte(b)).ForEach(func(k, v []byte) error {
		if len(out) > 0 {
			out = append(out, ' ')
		}
		out = fmt.Appendf(out, "%s=%s", k, v)
		return nil
	})
	if err != nil {
		t.Fatalf("ForEach: %v", err)
	}
	return string(out)
}

func want(t *testing.T, what string, got []byte, exp string) {
	t.Helper()
	if exp == "<nil>" {
		if got != nil {
			t.Errorf("%s = %q, want nil", what, got)
		}
		return
	}
	if string(got) != exp || got == nil {
		t.Errorf("%s = %q, want %q", what, got, exp)
	}
}

func testBuckets(t *testing.T, db kv.DB) {
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("Bucket of a bucket never made is not nil")
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("b")); err == nil {
			t.Error("CreateBucketIfNotExists succeeded in a View")
		}
		return nil
	})
	create(t, db, "b")
	create(t, db, "b", "other")
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) == nil || tx.Bucket([]byte("other")) == nil {
			t.Error("a bucket made is nil")
		}
		return nil
	})
	errAbort := errors.New("abort")
	if err := db.Update(func(tx kv.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte("counter")); err != nil {
			return err
		}
		return errAbort
	}); err != errAbort {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("counter")) != nil {
			t.Error("a bucket made by a failed Update exists")
		}
		return nil
	})
}

func testPutGetDelete(t *testing.T, db kv.DB) {
	create(t, db, "b", "other")
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("k1"), []byte("v1"))
		want(t, "Get(k1) after Put", b.Get([]byte("k1")), "v1")
		b.Put([]byte("k2"), []byte("v2"))
		b.Put([]byte("k2"), []byte("v2b"))
		want(t, "Get(k2) after a second Put", b.Get([]byte("k2")), "v2b")
		b.Put([]byte("k3"), []byte("v3"))
		b.Delete([]byte("k3"))
		want(t, "Get(k3) after Delete", b.Get([]byte("k3")), "<nil>")
		if err := b.Delete([]byte("absent")); err != nil {
			t.Errorf("Delete of an absent key: %v", err)
		}
		b.Put([]byte("empty"), []byte{})
		want(t, "Get(empty)", b.Get([]byte("empty")), "")
		want(t, "other bucket's Get(k1)", tx.Bucket([]byte("other")).Get([]byte("k1")), "<nil>")
		if err := b.Put(nil, []byte("x")); err == nil {
			t.Error("Put with an empty key succeeded")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		want(t, "committed k1", b.Get([]byte("k1")), "v1")
		want(t, "committed k2", b.Get([]byte("k2")), "v2b")
		want(t, "committed k3", b.Get([]byte("k3")), "<nil>")
		want(t, "committed empty", b.Get([]byte("empty")), "")
		want(t, "absent", b.Get([]byte("zz")), "<nil>")
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		want(t, "stored k1", b.Get([]byte("k1")), "v1")
		b.Delete([]byte("k1"))
		want(t, "stored k1 after Delete", b.Get([]byte("k1")), "<nil>")
		b.Put([]byte("k1"), []byte("again"))
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		want(t, "k1 deleted and put again", tx.Bucket([]byte("b")).Get([]byte("k1")), "again")
		return nil
	})
}

func testRollback(t *testing.T, db kv.DB) {
	create(t, db, "b")
	fill(t, db, "b", "a", "1", "b", "2")
	errAbort := errors.New("abort")
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("a"), []byte("changed"))
		b.Delete([]byte("b"))
		b.Put([]byte("c"), []byte("new"))
		b.NextSequence()
		return errAbort
	})
	if err != errAbort {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	view(t, db, func(tx kv.Tx) error {
		if got := dump(t, tx, "b"); got != "a=1 b=2" {
			t.Errorf("after a failed Update: %s, want a=1 b=2", got)
		}
		if s := tx.Bucket([]byte("b")).Sequence(); s != 0 {
			t.Errorf("sequence after a failed Update = %d, want 0", s)
		}
		return nil
	})
}

func testReadOnly(t *testing.T, db kv.DB) {
	create(t, db, "b")
	fill(t, db, "b", "a", "1")
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Put([]byte("x"), []byte("y")) == nil {
			t.Error("Put succeeded in a View")
		}
		if b.Delete([]byte("a")) == nil {
			t.Error("Delete succeeded in a View")
		}
		if _, err := b.NextSequence(); err == nil {
			t.Error("NextSequence succeeded in a View")
		}
		return nil
	})
}

func testSequence(t *testing.T, db kv.DB) {
	create(t, db, "b", "other")
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := uint64(1); i <= 3; i++ {
			if n, err := b.NextSequence(); n != i || err != nil {
				t.Errorf("NextSequence = %d, %v; want %d", n, err, i)
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if s := b.Sequence(); s != 3 {
			t.Errorf("Sequence = %d, want 3", s)
		}
		if s := tx.Bucket([]byte("other")).Sequence(); s != 0 {
			t.Errorf("other bucket's Sequence = %d, want 0", s)
		}
		return b.SetSequence(1 << 63)
	})
	view(t, db, func(tx kv.Tx) error {
		if s := tx.Bucket([]byte("b")).Sequence(); s != 1<<63 {
			t.Errorf("Sequence after SetSequence(1<<63) = %d", s)
		}
		return nil
	})
}

// testSnapshot: a View does not see what commits after it began, even
// in keys it had not read yet.
func testSnapshot(t *testing.T, db kv.DB) {
	create(t, db, "b")
	fill(t, db, "b", "a", "1", "b", "1")
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		want(t, "a before", b.Get([]byte("a")), "1")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Update(func(tx kv.Tx) error {
				b := tx.Bucket([]byte("b"))
				b.Put([]byte("a"), []byte("2"))
				b.Put([]byte("b"), []byte("2"))
				b.Put([]byte("c"), []byte("2"))
				return nil
			}); err != nil {
				t.Errorf("Update beside a View: %v", err)
			}
		}()
		wg.Wait()
		want(t, "a after a commit", b.Get([]byte("a")), "1")
		want(t, "b after a commit", b.Get([]byte("b")), "1")
		if got := dump(t, tx, "b"); got != "a=1 b=1" {
			t.Errorf("View sees %s after a commit, want a=1 b=1", got)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if got := dump(t, tx, "b"); got != "a=2 b=2 c=2" {
			t.Errorf("a View after the commit sees %s", got)
		}
		return nil
	})
}

// testConcurrent: writers see each other's commits whole.
func testConcurrent(t *testing.T, db kv.DB) {
	create(t, db, "counter")
	const writers, each = 16, 10
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := db.Update(func(tx kv.Tx) error {
					b := tx.Bucket([]byte("counter"))
					var n int
					fmt.Sscan(string(b.Get([]byte("n"))), &n)
					return b.Put([]byte("n"), fmt.Append(nil, n+1))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, db, func(tx kv.Tx) error {
		want(t, "counter", tx.Bucket([]byte("counter")).Get([]byte("n")), fmt.Sprint(writers*each))
		return nil
	})
}

func testForEach(t *testing.T, db kv.DB) {
	create(t, db, "b")
	fill(t, db, "b", "b", "1", "d", "1", "f", "1")
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("a"), []byte("2"))
		b.Put([]byte("d"), []byte("2"))
		b.Delete([]byte("f"))
		if got := dump(t, tx, "b"); got != "a=2 b=1 d=2" {
			t.Errorf("ForEach in the Update: %s", got)
		}
		stop := errors.New("stop")
		n := 0
		if err := b.ForEach(func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("ForEach whose fn fails = %v after %d calls, want fn's error after 1", err, n)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if got := dump(t, tx, "b"); got != "a=2 b=1 d=2" {
			t.Errorf("ForEach after commit: %s", got)
		}
		return nil
	})
}

func bs(k []byte) string {
	if k == nil {
		return "<nil>"
	}
	return string(k)
}

func testCursor(t *testing.T, db kv.DB) {
	create(t, db, "b")
	var kvs []string
	for i := 0; i < 300; i += 2 {
		kvs = append(kvs, fmt.Sprintf("k%03d", i), "s")
	}
	fill(t, db, "b", kvs...)
	check := func(t *testing.T, tx kv.Tx, inTx bool) {
		c := tx.Bucket([]byte("b")).Cursor()
		step := func(what string, k, v []byte, wk, wv string) {
			t.Helper()
			if bs(k) != wk || (wk != "<nil>" && string(v) != wv) {
				t.Errorf("%s = %s=%s, want %s=%s", what, bs(k), v, wk, wv)
			}
		}
		k, v := c.First()
		step("First", k, v, "a", "o")
		k, v = c.Next()
		step("Next", k, v, "k000", "s")
		k, v = c.Seek([]byte("k100"))
		step("Seek(present)", k, v, "k100", "s")
		k, v = c.Seek([]byte("k101"))
		if inTx {
			step("Seek(absent, put)", k, v, "k101", "o")
		} else {
			step("Seek(absent)", k, v, "k102", "s")
		}
		k, v = c.Prev()
		step("Prev", k, v, "k100", "s")
		k, v = c.Seek([]byte("k199"))
		step("Seek(before a deleted key)", k, v, "k202", "s")
		k, v = c.Prev()
		step("Prev over a deleted key", k, v, "k196", "s")
		k, v = c.Seek([]byte("zzz"))
		step("Seek(past the end)", k, v, "<nil>", "")
		k, v = c.Last()
		step("Last", k, v, "z", "o")
		k, v = c.Prev()
		step("Prev from Last", k, v, "k298", "s")
		k, v = c.Next()
		step("Next back", k, v, "z", "o")
		k, v = c.Next()
		step("Next past the end", k, v, "<nil>", "")
		// Walk everything both ways.
		var up, down []string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			up = append(up, string(k))
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			down = append(down, string(k))
		}
		n := 150
		if inTx {
			n = 151
		}
		if len(up) != n || len(down) != len(up) {
			t.Fatalf("walked %d keys up and %d down, want %d", len(up), len(down), n)
		}
		for i := range up {
			if up[i] != down[len(down)-1-i] {
				t.Fatalf("up[%d] = %s, down's = %s", i, up[i], down[len(down)-1-i])
			}
		}
		k, v = c.First()
		step("First after a walk", k, v, "a", "o")
		k, v = c.Prev()
		step("Prev before First", k, v, "<nil>", "")
	}
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("a"), []byte("o"))
		b.Put([]byte("z"), []byte("o"))
		b.Put([]byte("k101"), []byte("o"))
		b.Delete([]byte("k198"))
		b.Delete([]byte("k200"))
		check(t, tx, true)
		b.Delete([]byte("k101"))
		return nil
	})
	view(t, db, func(tx kv.Tx) error { check(t, tx, false); return nil })
}

// testCursorDelete deletes through a cursor and seeks again, as the
// spool does: bbolt's Next after a Delete skips a key when the page was
// already changed in the transaction, so the suite does not rely on it.
func testCursorDelete(t *testing.T, db kv.DB) {
	create(t, db, "b")
	fill(t, db, "b", "a", "1", "b", "1", "c", "1", "d", "1", "e", "1")
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("bb"), []byte("2"))
		c := b.Cursor()
		for k, _ := c.Seek([]byte("b")); k != nil && k[0] < 'd'; k, _ = c.Seek([]byte("b")) {
			if err := c.Delete(); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if k, _ := c.Last(); bs(k) != "e" {
			t.Fatalf("Last = %s, want e", bs(k))
		}
		if err := c.Delete(); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if got := dump(t, tx, "b"); got != "a=1 d=1" {
			t.Errorf("after deleting through the cursor: %s, want a=1 d=1", got)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if got := dump(t, tx, "b"); got != "a=1 d=1" {
			t.Errorf("after commit: %s, want a=1 d=1", got)
		}
		return nil
	})
}

// equal reports whether a and b hold the same bytes, nil apart.
func equal(a []byte, b string, present bool) bool {
	return (a != nil) == present && bytes.Equal(a, []byte(b))
}
