package pg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// fake is a bucket's stored rows in memory, as fetchFunc reads them.
type fake struct {
	rows []row
	ns   []int // the n of every fetch
}

func key(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }

// newFake stores the keys 0, step, 2*step, ... below n.
func newFake(n, step int) *fake {
	f := &fake{}
	for i := 0; i < n; i += step {
		f.rows = append(f.rows, row{k: key(i), v: fmt.Append(nil, i)})
	}
	return f
}

func (f *fake) fetch(from []byte, incl, desc bool, n int) ([]row, error) {
	f.ns = append(f.ns, n)
	var out []row
	if !desc {
		for _, r := range f.rows {
			if c := bytes.Compare(r.k, from); from == nil || c > 0 || incl && c == 0 {
				out = append(out, r)
			}
		}
	} else {
		for i := len(f.rows) - 1; i >= 0; i-- {
			r := f.rows[i]
			if c := bytes.Compare(r.k, from); from == nil || c < 0 || incl && c == 0 {
				out = append(out, r)
			}
		}
	}
	return slices.Clone(out[:min(n, len(out))]), nil
}

// TestWindowChunks: a Seek reads one row; walking on reads growing
// chunks, and the window holds no more than one chunk.
func TestWindowChunks(t *testing.T) {
	f := newFake(5000, 1)
	w := window{fetch: f.fetch}
	r, ok, _ := w.up(key(100), true)
	if !ok || !bytes.Equal(r.k, key(100)) || !slices.Equal(f.ns, []int{1}) {
		t.Fatalf("Seek: %x %v, fetches %v", r.k, ok, f.ns)
	}
	k := r.k
	for i := 101; i < 3000; i++ {
		r, ok, _ := w.up(k, false)
		if !ok || !bytes.Equal(r.k, key(i)) {
			t.Fatalf("Next to %d: %x %v", i, r.k, ok)
		}
		k = r.k
		if len(w.rows) > 1025 {
			t.Fatalf("the window holds %d rows", len(w.rows))
		}
	}
	if want := []int{1, 16, 128, 1024, 1024, 1024}; !slices.Equal(f.ns, want) {
		t.Errorf("fetches %v, want %v", f.ns, want)
	}
	f.ns = nil
	r, _, _ = w.down(nil, true)
	k = r.k
	for range 20 {
		r, _, _ := w.down(k, false)
		k = r.k
	}
	if want := []int{1, 16, 128}; !slices.Equal(f.ns, want) {
		t.Errorf("Last and 20 Prev: fetches %v, want %v", f.ns, want)
	}
}

// TestWindowRandom compares random moves of a window with a search of
// the whole bucket.
func TestWindowRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		f := newFake(200, 1+round%7)
		w := window{fetch: f.fetch}
		var at []byte
		for range 300 {
			k := at
			switch r.IntN(4) {
			case 0:
				k = key(r.IntN(220))
			case 1:
				k = nil
			}
			incl, up := r.IntN(2) == 0, r.IntN(2) == 0
			var got row
			var ok bool
			var want []byte
			if up {
				got, ok, _ = w.up(k, incl)
				want = brute(f.rows, k, incl, false)
			} else {
				got, ok, _ = w.down(k, incl)
				want = brute(f.rows, k, incl, true)
			}
			if ok != (want != nil) || ok && !bytes.Equal(got.k, want) {
				t.Fatalf("round %d: up=%v from %x incl=%v: %x %v, want %x", round, up, k, incl, got.k, ok, want)
			}
			if ok {
				at = got.k
			}
		}
	}
}

func brute(rows []row, k []byte, incl, desc bool) []byte {
	if desc {
		rows = slices.Clone(rows)
		slices.Reverse(rows)
	}
	for _, r := range rows {
		c := bytes.Compare(r.k, k)
		if desc {
			c = -c
		}
		if k == nil || c > 0 || incl && c == 0 {
			return r.k
		}
	}
	return nil
}

// TestCursorMerge: the overlay's writes win over stored rows, and its
// deletions hide them, both ways.
func TestCursorMerge(t *testing.T) {
	f := newFake(40, 2)
	b := &bucket{t: &tx{write: true}, name: "b"}
	b.Put(key(3), []byte("new"))
	b.Put(key(4), []byte("changed"))
	b.Put(key(41), []byte("new"))
	for _, i := range []int{0, 6, 8, 10, 38} {
		b.Delete(key(i))
	}
	b.Delete(key(5)) // never stored
	c := &cursor{b: b, w: window{fetch: f.fetch}}
	var up []string
	for k, v := c.First(); k != nil; k, v = c.Next() {
		up = append(up, fmt.Sprintf("%d=%s", binary.BigEndian.Uint16(k), v))
	}
	want := []string{"2=2", "3=new", "4=changed", "12=12", "14=14", "16=16", "18=18", "20=20",
		"22=22", "24=24", "26=26", "28=28", "30=30", "32=32", "34=34", "36=36", "41=new"}
	if !slices.Equal(up, want) {
		t.Errorf("up:\n%v\nwant\n%v", up, want)
	}
	var down []string
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		down = append(down, fmt.Sprintf("%d=%s", binary.BigEndian.Uint16(k), v))
	}
	slices.Reverse(down)
	if !slices.Equal(down, want) {
		t.Errorf("down:\n%v\nwant\n%v", down, want)
	}
	if k, _ := c.Seek(key(5)); !bytes.Equal(k, key(12)) {
		t.Errorf("Seek(5) = %x, want 12", k)
	}
	c.Delete()
	if k, _ := c.Next(); !bytes.Equal(k, key(14)) {
		t.Errorf("Next after Delete = %x, want 14", k)
	}
	if k, _ := c.Prev(); !bytes.Equal(k, key(4)) {
		t.Errorf("Prev back over the deleted = %x, want 4", k)
	}
}
