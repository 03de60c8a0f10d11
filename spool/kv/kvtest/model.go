package kvtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/holdrelay/relay/spool/kv"
)

var modelBucket = []byte("model")

func testModel(t *testing.T, db kv.DB) {
	for seed := uint64(1); seed <= 4; seed++ {
		Model(t, db, Program(seed, 6000))
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

// Program is a random program for Model.
func Program(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// Seeds adds a few programs to a fuzz target of Model.
func Seeds(f *testing.F) {
	for seed := uint64(1); seed <= 4; seed++ {
		f.Add(Program(seed, 600))
	}
}

// Model reads prog as a program of transactions (committed, aborted and
// read-only) of random operations on one bucket, runs it on db and on a
// plain map, and compares every result. The bucket is emptied first, so
// that a fuzz target can run many programs on one store.
func Model(t *testing.T, db kv.DB, prog []byte) {
	t.Helper()
	m := &model{t: t, p: prog, committed: map[string]string{}}
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(modelBucket)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Seek(k) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return b.SetSequence(0)
	})
	if err != nil {
		t.Fatalf("emptying the model's bucket: %v", err)
	}
	for len(m.p) > 0 && !t.Failed() {
		m.tx(db)
	}
	if t.Failed() {
		t.Logf("the last operations:\n%s", strings.Join(m.log, "\n"))
	}
}

type model struct {
	t         *testing.T
	p         []byte
	committed map[string]string
	seq       uint64
	values    int
	log       []string
}

var errAbort = errors.New("abort")

func (m *model) byte() byte {
	if len(m.p) == 0 {
		return 0
	}
	b := m.p[0]
	m.p = m.p[1:]
	return b
}

// key is one to three of five letters: enough keys to walk past a
// driver's read chunks, few enough to meet again.
func (m *model) key() string {
	b := make([]byte, 1+m.byte()%3)
	for i := range b {
		b[i] = 'a' + m.byte()%5
	}
	return string(b)
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
	if len(m.log) > 40 {
		m.log = m.log[1:]
	}
}

// tx runs one transaction of the program.
func (m *model) tx(db kv.DB) {
	kind, n := m.byte()%8, 1+int(m.byte()%48)
	st := &state{kv: clone(m.committed), seq: m.seq}
	var err error
	switch {
	case kind < 5:
		m.logf("-- Update (commit), %d ops", n)
		err = db.Update(func(tx kv.Tx) error { m.ops(tx, st, n, true); return nil })
		if err == nil {
			m.committed, m.seq = st.kv, st.seq
		}
	case kind < 6:
		m.logf("-- Update (abort), %d ops", n)
		if err = db.Update(func(tx kv.Tx) error { m.ops(tx, st, n, true); return errAbort }); err == errAbort {
			err = nil
		}
	default:
		m.logf("-- View, %d ops", n)
		err = db.View(func(tx kv.Tx) error { m.ops(tx, st, n, false); return nil })
	}
	if err != nil {
		m.t.Fatalf("transaction: %v", err)
	}
	m.check(db)
}

// check compares the committed content and sequence.
func (m *model) check(db kv.DB) {
	err := db.View(func(tx kv.Tx) error {
		st := &state{kv: m.committed, seq: m.seq}
		m.compareAll(tx.Bucket(modelBucket), st, "after the transaction")
		return nil
	})
	if err != nil {
		m.t.Fatalf("View: %v", err)
	}
}

func (m *model) compareAll(b kv.Bucket, st *state, when string) {
	var got []string
	b.ForEach(func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	var exp []string
	for _, k := range st.keys() {
		exp = append(exp, k+"="+st.kv[k])
	}
	if !slices.Equal(got, exp) {
		m.t.Errorf("%s: bucket holds\n%v\nwant\n%v", when, got, exp)
	}
	if s := b.Sequence(); s != st.seq {
		m.t.Errorf("%s: sequence %d, want %d", when, s, st.seq)
	}
}

type state struct {
	kv  map[string]string
	seq uint64
}

func (s *state) keys() []string {
	ks := make([]string, 0, len(s.kv))
	for k := range s.kv {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// after is the first key after k (from k on if incl).
func (s *state) after(k string, incl bool) (string, bool) {
	for _, x := range s.keys() {
		if x > k || incl && x == k {
			return x, true
		}
	}
	return "", false
}

// before is the last key before k ("" and !bounded: the last key).
func (s *state) before(k string, bounded bool) (string, bool) {
	ks := s.keys()
	for i := len(ks) - 1; i >= 0; i-- {
		if !bounded || ks[i] < k {
			return ks[i], true
		}
	}
	return "", false
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
