package kvtest

import (
	"fmt"

	"github.com/holdrelay/relay/spool/kv"
)

// cursorState is what the model knows of the driver's cursor. bbolt's
// cursor is undefined after any write, its own Delete included (Next
// may skip a key): it must be moved to a key again.
type cursorState struct {
	on         string
	positioned bool
}

// ops runs n operations of the program in tx and on st.
func (m *model) ops(tx kv.Tx, st *state, n int, write bool) {
	b := tx.Bucket(modelBucket)
	c := b.Cursor()
	var cs cursorState
	for i := 0; i < n && !m.t.Failed(); i++ {
		op := m.byte() % 16
		if !write && (op < 4 || op == 12 || op == 13) {
			op = 4 // a Get instead of a write
		}
		switch op {
		case 0, 1, 2:
			k := m.key()
			m.values++
			v := fmt.Sprintf("v%d", m.values)
			m.logf("Put(%s, %s)", k, v)
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				m.t.Fatalf("Put: %v", err)
			}
			st.kv[k] = v
			cs = cursorState{}
		case 3:
			k := m.key()
			m.logf("Delete(%s)", k)
			if err := b.Delete([]byte(k)); err != nil {
				m.t.Fatalf("Delete: %v", err)
			}
			delete(st.kv, k)
			cs = cursorState{}
		case 4, 5:
			k := m.key()
			v, ok := st.kv[k]
			m.logf("Get(%s)", k)
			if got := b.Get([]byte(k)); !equal(got, v, ok) {
				m.t.Errorf("Get(%s) = %s, want %s", k, show(got, got != nil), show([]byte(v), ok))
			}
		case 6:
			m.logf("First")
			k, v := c.First()
			m.move(&cs, st, "First", k, v)(st.after("", true))
		case 7:
			m.logf("Last")
			k, v := c.Last()
			m.move(&cs, st, "Last", k, v)(st.before("", false))
		case 8, 9:
			key := m.key()
			m.logf("Seek(%s)", key)
			k, v := c.Seek([]byte(key))
			m.move(&cs, st, "Seek("+key+")", k, v)(st.after(key, true))
		case 10:
			if !cs.positioned {
				continue
			}
			m.logf("Next")
			from := cs.on
			k, v := c.Next()
			m.move(&cs, st, "Next from "+from, k, v)(st.after(from, false))
		case 11:
			if !cs.positioned {
				continue
			}
			m.logf("Prev")
			from := cs.on
			k, v := c.Prev()
			m.move(&cs, st, "Prev from "+from, k, v)(st.before(from, true))
		case 12:
			if !cs.positioned {
				continue
			}
			m.logf("Cursor.Delete on %s", cs.on)
			if err := c.Delete(); err != nil {
				m.t.Fatalf("Cursor.Delete: %v", err)
			}
			delete(st.kv, cs.on)
			cs = cursorState{}
		case 13:
			m.logf("NextSequence")
			n, err := b.NextSequence()
			st.seq++
			if err != nil || n != st.seq {
				m.t.Errorf("NextSequence = %d, %v; want %d", n, err, st.seq)
			}
		case 14:
			m.logf("Sequence")
			if s := b.Sequence(); s != st.seq {
				m.t.Errorf("Sequence = %d, want %d", s, st.seq)
			}
		case 15:
			m.logf("ForEach")
			m.compareAll(b, st, "ForEach inside the transaction")
		}
	}
}

// move checks a cursor move's result against the model's answer and
// records where the cursor is.
func (m *model) move(cs *cursorState, st *state, what string, k, v []byte) func(string, bool) {
	return func(wk string, ok bool) {
		if !equal(k, wk, ok) || ok && string(v) != st.kv[wk] {
			m.t.Errorf("%s = %s=%s, want %s=%s", what, show(k, k != nil), v, show([]byte(wk), ok), st.kv[wk])
		}
		*cs = cursorState{on: wk, positioned: ok}
	}
}

func show(b []byte, ok bool) string {
	if !ok {
		return "<nil>"
	}
	return string(b)
}
