package pg

import (
	"bytes"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// chunks are the numbers of rows a cursor fetches at a time: one after a
// jump (a Seek on the bodies bucket wants one body, not 64), then more
// as it keeps walking the same way.
var chunks = [...]int{1, 16, 128, 1024}

// fetchFunc reads up to n stored rows from key from (nil: from the start,
// or the end if desc), including from itself if incl, in ascending or
// descending order.
type fetchFunc func(from []byte, incl, desc bool, n int) ([]row, error)

// window is a contiguous run of a bucket's stored rows, ascending: every
// stored key between lo and hi is in rows. loOpen and hiOpen say the run
// reaches the bucket's first and last key; loExcl and hiExcl that lo and
// hi themselves are outside it.
type window struct {
	fetch          fetchFunc
	valid          bool
	rows           []row
	lo, hi         []byte
	loOpen, hiOpen bool
	loExcl, hiExcl bool
	step           int // index into chunks of the next fetch
}

func (w *window) next() int {
	n := chunks[w.step]
	if w.step < len(chunks)-1 {
		w.step++
	}
	return n
}

// coversUp: the window can answer "first row after k" (possibly by
// extending upwards).
func (w *window) coversUp(k []byte, incl bool) bool {
	switch {
	case !w.valid:
		return false
	case k == nil:
		return w.loOpen
	}
	if !w.loOpen {
		if c := bytes.Compare(w.lo, k); c > 0 || c == 0 && w.loExcl && incl {
			return false
		}
	}
	if !w.hiOpen {
		// At hi, extending answers; past it, a new window is shorter.
		if bytes.Compare(k, w.hi) > 0 {
			return false
		}
	}
	return true
}

func (w *window) coversDown(k []byte, incl bool) bool {
	switch {
	case !w.valid:
		return false
	case k == nil:
		return w.hiOpen
	}
	if !w.hiOpen {
		if c := bytes.Compare(k, w.hi); c > 0 || c == 0 && w.hiExcl && incl {
			return false
		}
	}
	if !w.loOpen {
		if bytes.Compare(w.lo, k) > 0 {
			return false
		}
	}
	return true
}

// up is the first stored row after k (from k on if incl, from the start
// if k is nil).
func (w *window) up(k []byte, incl bool) (row, bool, error) {
	if !w.coversUp(k, incl) {
		n := chunks[0]
		rows, err := w.fetch(k, incl, false, n)
		if err != nil {
			return row{}, false, err
		}
		*w = window{fetch: w.fetch, valid: true, rows: rows, step: 1,
			lo: k, loExcl: !incl, loOpen: k == nil}
		w.setHi(len(rows) < n)
	}
	for {
		i := 0
		if k != nil {
			var found bool
			i, found = search(w.rows, k)
			if found && !incl {
				i++
			}
		}
		if i < len(w.rows) {
			return w.rows[i], true, nil
		}
		if w.hiOpen {
			return row{}, false, nil
		}
		n := w.next()
		rows, err := w.fetch(w.hi, w.hiExcl, false, n)
		if err != nil {
			return row{}, false, err
		}
		short := len(rows) < n
		// Keep only the last row walked past: the window stays a
		// chunk long however far the cursor goes.
		if last := len(w.rows) - 1; last >= 0 {
			w.lo, w.loExcl, w.loOpen = w.rows[last].k, false, false
			rows = append(w.rows[last:last+1:last+1], rows...)
		}
		w.rows = rows
		w.setHi(short)
	}
}

// setHi sets the window's upper end after fetching upwards: the last row
// fetched, or the bucket's end if the fetch came short.
func (w *window) setHi(short bool) {
	if short {
		w.hiOpen = true
		return
	}
	w.hi, w.hiExcl, w.hiOpen = w.rows[len(w.rows)-1].k, false, false
}

// down is the last stored row before k (up to k if incl, from the end if
// k is nil).
func (w *window) down(k []byte, incl bool) (row, bool, error) {
	if !w.coversDown(k, incl) {
		n := chunks[0]
		rows, err := w.fetch(k, incl, true, n)
		if err != nil {
			return row{}, false, err
		}
		reverse(rows)
		*w = window{fetch: w.fetch, valid: true, rows: rows, step: 1,
			hi: k, hiExcl: !incl, hiOpen: k == nil}
		w.setLo(len(rows) < n)
	}
	for {
		i := len(w.rows) - 1
		if k != nil {
			j, found := search(w.rows, k)
			i = j - 1
			if found && incl {
				i = j
			}
		}
		if i >= 0 {
			return w.rows[i], true, nil
		}
		if w.loOpen {
			return row{}, false, nil
		}
		n := w.next()
		rows, err := w.fetch(w.lo, w.loExcl, true, n)
		if err != nil {
			return row{}, false, err
		}
		reverse(rows)
		short := len(rows) < n
		if len(w.rows) > 0 {
			w.hi, w.hiExcl, w.hiOpen = w.rows[0].k, false, false
			rows = append(rows, w.rows[0])
		}
		w.rows = rows
		w.setLo(short)
	}
}

func (w *window) setLo(short bool) {
	if short {
		w.loOpen = true
		return
	}
	w.lo, w.loExcl, w.loOpen = w.rows[0].k, false, false
}

func reverse(rows []row) {
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
}

// cursor walks the merge of the bucket's stored rows (through its
// window) and the transaction's writes (the overlay, which wins).
type cursor struct {
	b   *bucket
	w   window
	cur []byte // the key the cursor is on; nil: none
}

func (b *bucket) cursor() *cursor {
	c := &cursor{b: b}
	if b.whole {
		c.w = window{valid: true, rows: b.stored, loOpen: true, hiOpen: true}
	} else {
		c.w.fetch = b.fetch
	}
	return c
}

func (c *cursor) First() ([]byte, []byte)        { return c.up(nil, true) }
func (c *cursor) Last() ([]byte, []byte)         { return c.down(nil, true) }
func (c *cursor) Seek(k []byte) ([]byte, []byte) { return c.up(k, true) }

func (c *cursor) Next() ([]byte, []byte) {
	if c.cur == nil {
		return nil, nil
	}
	return c.up(c.cur, false)
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.cur == nil {
		return nil, nil
	}
	return c.down(c.cur, false)
}

func (c *cursor) Delete() error {
	if c.cur == nil {
		return c.b.writable()
	}
	return c.b.Delete(c.cur)
}

func (c *cursor) up(k []byte, incl bool) ([]byte, []byte) {
	for c.b.t.err == nil {
		r, rok, err := c.w.up(k, incl)
		if err != nil {
			c.b.t.fail(fmt.Errorf("read %s: %w", c.b.name, err))
			break
		}
		e, eok := c.b.ov.up(k, incl)
		if eok && (!rok || bytes.Compare(e.k, r.k) <= 0) {
			if e.del {
				k, incl = e.k, false
				continue
			}
			c.cur = e.k
			return e.k, e.v
		}
		if !rok {
			break
		}
		c.cur = r.k
		return r.k, r.v
	}
	c.cur = nil
	return nil, nil
}

func (c *cursor) down(k []byte, incl bool) ([]byte, []byte) {
	for c.b.t.err == nil {
		r, rok, err := c.w.down(k, incl)
		if err != nil {
			c.b.t.fail(fmt.Errorf("read %s: %w", c.b.name, err))
			break
		}
		e, eok := c.b.ov.down(k, incl)
		if eok && (!rok || bytes.Compare(e.k, r.k) >= 0) {
			if e.del {
				k, incl = e.k, false
				continue
			}
			c.cur = e.k
			return e.k, e.v
		}
		if !rok {
			break
		}
		c.cur = r.k
		return r.k, r.v
	}
	c.cur = nil
	return nil, nil
}

// fetch reads stored rows for a cursor's window.
func (b *bucket) fetch(from []byte, incl, desc bool, n int) ([]row, error) {
	op, order := ">", "k"
	if desc {
		op, order = "<", "k DESC"
	}
	if incl {
		op += "="
	}
	var rows pgx.Rows
	var err error
	if from == nil {
		rows, err = b.t.conn.Query(b.t.ctx, "SELECT k, v FROM "+b.table()+" ORDER BY "+order+" LIMIT $1", n)
	} else {
		rows, err = b.t.conn.Query(b.t.ctx, "SELECT k, v FROM "+b.table()+" WHERE k "+op+" $1 ORDER BY "+order+" LIMIT $2", from, n)
	}
	if err != nil {
		return nil, err
	}
	return scanRows(rows, n)
}

// scanRows reads (k, v) rows.
func scanRows(rows pgx.Rows, hint int) ([]row, error) {
	defer rows.Close()
	out := make([]row, 0, min(hint, 128))
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.k, &r.v); err != nil {
			return nil, err
		}
		if r.v == nil {
			r.v = []byte{}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
