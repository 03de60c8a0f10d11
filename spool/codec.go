package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Records are stored in a compact binary form, not JSON: bulk actions
// decode and re-encode every record they touch, and JSON made up most of
// the cost of dropping 100,000 messages. The first byte is the record's
// format version; every field after it is a uvarint, a varint, a byte, or
// a uvarint length followed by that many bytes.
const recordV1 = 1

// maxField bounds any one length in a record, so that a corrupt length
// cannot make the decoder allocate gigabytes.
const maxField = 1 << 20

var errCorrupt = errors.New("corrupt record")

func encodeMessage(m *Message) ([]byte, error) {
	b := make([]byte, 0, 128+len(m.From)+len(m.Subject)+len(m.LastError)+32*len(m.Rcpts)+len(m.history))
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, uint64(m.ID))
	b = appendString(b, m.Credential)
	b = appendString(b, m.From)
	b = binary.AppendUvarint(b, uint64(len(m.Rcpts)))
	for _, r := range m.Rcpts {
		b = appendString(b, r.Addr)
		b = append(b, byte(r.State))
		b = appendString(b, r.Reply)
	}
	b = binary.AppendVarint(b, m.Size)
	b = appendString(b, m.Subject)
	b = appendString(b, m.MessageID)
	b = appendTime(b, m.Received)
	b = appendTime(b, m.Release)
	b = append(b, byte(m.State))
	b = binary.AppendUvarint(b, uint64(m.Attempts))
	b = appendString(b, m.LastError)
	b = appendTime(b, m.Finished)
	b = appendString(b, m.HeldBy)
	b = appendString(b, m.Reason)
	b = appendIntent(b, m.Intent)
	b = append(b, boolByte(m.Interrupted))
	b = appendScheduling(b, m)
	b = appendRoute(b, m)
	b = appendBounce(b, m)
	return appendHistory(b, m), nil
}

// appendHistory adds the history section: tagHistory, then the length
// of the events that follow it.
func appendHistory(b []byte, m *Message) []byte {
	if len(m.history) == 0 {
		return b
	}
	b = append(b, tagHistory)
	b = binary.AppendUvarint(b, uint64(len(m.history)))
	return append(b, m.history...)
}

// The optional tail of a record is a series of sections, each opened by
// its tag, in tag order; a record written before a section existed lacks
// it and decodes with its fields empty. A new section takes the next tag.
const (
	tagScheduling = 1 // batch, categories, unique args, send time
	tagRoute      = 2 // the upstream of the last attempt
	tagBounce     = 3 // the DSN links: DSN, BounceOf
	tagHistory    = 4 // events written into the record (see txn.inlineEvent)
)

// appendRoute adds the route section: tagRoute, then the upstream.
func appendRoute(b []byte, m *Message) []byte {
	if m.Upstream == "" {
		return b
	}
	b = append(b, tagRoute)
	return appendString(b, m.Upstream)
}

// appendBounce adds the bounce section: tagBounce, then the failed
// message's DSN and a DSN's failed message (0: none).
func appendBounce(b []byte, m *Message) []byte {
	if m.DSN == 0 && m.BounceOf == 0 {
		return b
	}
	b = append(b, tagBounce)
	b = binary.AppendUvarint(b, uint64(m.DSN))
	return binary.AppendUvarint(b, uint64(m.BounceOf))
}

// appendScheduling adds the scheduling section: tagScheduling, then
// batch, categories, unique args (sorted by key) and send time.
func appendScheduling(b []byte, m *Message) []byte {
	if m.Batch == "" && len(m.Categories) == 0 && len(m.UniqueArgs) == 0 && m.SendAt.IsZero() {
		return b
	}
	b = append(b, tagScheduling)
	b = appendString(b, m.Batch)
	b = binary.AppendUvarint(b, uint64(len(m.Categories)))
	for _, c := range m.Categories {
		b = appendString(b, c)
	}
	b = binary.AppendUvarint(b, uint64(len(m.UniqueArgs)))
	for _, k := range slices.Sorted(maps.Keys(m.UniqueArgs)) {
		b = appendString(b, k)
		b = appendString(b, m.UniqueArgs[k])
	}
	return appendTime(b, m.SendAt)
}

// tail reads the optional sections, which must come in tag order.
func (d *decoder) tail(m *Message) {
	last := byte(0)
	for d.err == nil && len(d.b) > 0 {
		tag := d.byte()
		if tag <= last {
			d.err = errCorrupt
			return
		}
		last = tag
		switch tag {
		case tagScheduling:
			d.scheduling(m)
		case tagRoute:
			m.Upstream = d.string()
		case tagBounce:
			m.DSN, m.BounceOf = ID(d.uvarint()), ID(d.uvarint())
		case tagHistory:
			m.history = d.bytes()
		default:
			d.err = errCorrupt
		}
	}
}

func (d *decoder) scheduling(m *Message) {
	m.Batch = d.string()
	if n := d.count(); n > 0 {
		m.Categories = make([]string, n)
		for i := range m.Categories {
			m.Categories[i] = d.string()
		}
	}
	if n := d.count(); n > 0 {
		m.UniqueArgs = make(map[string]string, n)
		for range n {
			k := d.string()
			m.UniqueArgs[k] = d.string()
		}
	}
	m.SendAt = d.time()
}

// count reads a number of items; each takes at least one byte, so a count
// above what is left is corrupt.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func decodeMessage(b []byte) (Message, error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordV1 {
		return Message{}, fmt.Errorf("decode message record: unknown format %d", v)
	}
	var m Message
	m.ID = ID(d.uvarint())
	m.Credential = d.string()
	m.From = d.string()
	n := d.uvarint()
	if n > maxField {
		d.err = errCorrupt
	}
	if d.err == nil && n > 0 {
		m.Rcpts = make([]Recipient, n)
		for i := range m.Rcpts {
			m.Rcpts[i] = Recipient{Addr: d.string(), State: RcptState(d.byte()), Reply: d.string()}
		}
	}
	m.Size = d.varint()
	m.Subject = d.string()
	m.MessageID = d.string()
	m.Received = d.time()
	m.Release = d.time()
	m.State = State(d.byte())
	m.Attempts = int(d.uvarint())
	m.LastError = d.string()
	m.Finished = d.time()
	m.HeldBy = d.string()
	m.Reason = d.string()
	m.Intent = d.intent()
	m.Interrupted = d.byte() == 1
	d.tail(&m)
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return Message{}, fmt.Errorf("decode message record: %w", d.err)
	}
	return m, nil
}

// appendIntent writes 0 for none; else 1, or 2 when it names a holder
// (records from before holders existed have 1), then the drop flag, the
// actor, the reason and, with 2, the holder.
func appendIntent(b []byte, in *Intent) []byte {
	switch {
	case in == nil:
		return append(b, 0)
	case in.Holder == "":
		b = append(b, 1, boolByte(in.Drop))
	default:
		b = append(b, 2, boolByte(in.Drop))
	}
	b = appendString(b, in.Actor)
	b = appendString(b, in.Reason)
	if in.Holder != "" {
		b = appendString(b, in.Holder)
	}
	return b
}

func (d *decoder) intent() *Intent {
	kind := d.byte()
	if kind == 0 || d.err != nil {
		return nil
	}
	if kind > 2 {
		d.err = errCorrupt
		return nil
	}
	in := &Intent{Drop: d.byte() == 1, Actor: d.string(), Reason: d.string()}
	if kind == 2 {
		in.Holder = d.string()
	}
	return in
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime stores unix nanoseconds; 0 stands for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads a record front to back; the first error sticks and every
// later read returns a zero value, so callers check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxField || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// bytes reads a length-prefixed byte string into a slice of its own.
func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	v := slices.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
