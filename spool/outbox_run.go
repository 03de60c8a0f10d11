package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// A run is consecutive message events of one transaction that differ in
// their message only: same type, time and change fields, as a bulk action
// writes by the thousand. The outbox stores a run of more than one as one
// record under the first event's Seq: it covers Seq to Seq+count-1, and
// the outbox's sequence moves past all of them, so that cursors and Events
// count events as before. A single record per message made a 100,000
// message hold write 30 MB of outbox pages; a run of 20,000 is 60 KB.
//
// Its binary form: outboxRunV1, the first event's number (its ID is
// "evt_" and that number's text, the next ones count up from it), type,
// endpoint, time, count, the message IDs (the first, then each one's
// difference from the one before, all uvarints), then the change's fields
// to the end: the JSON members after message_id, each with its leading
// comma, as appendFields writes them.
const outboxRunV1 = 3

type outboxRun struct {
	typ    string
	at     time.Time
	fields []byte
	ids    []ID
}

// emitRun adds a message event to the transaction's open run, or closes
// that run and opens another when the event differs in more than its
// message. Runs are written when closed: by flush, and before any other
// event so that the outbox keeps the order the events were made in.
func (t *txn) emitRun(typ string, at time.Time, fields []byte, id ID) error {
	if r := t.run; r != nil && r.typ == typ && r.at.Equal(at) && bytes.Equal(r.fields, fields) {
		r.ids = append(r.ids, id)
		return nil
	}
	if err := t.closeRun(); err != nil {
		return err
	}
	t.run = &outboxRun{typ: typ, at: at, fields: fields, ids: []ID{id}}
	return nil
}

// closeRun writes the open run, if any: a run of one as the record of a
// single message event, so that a lone change is stored as it always was.
func (t *txn) closeRun() error {
	r := t.run
	if r == nil {
		return nil
	}
	t.run = nil
	if len(r.ids) == 1 {
		data := appendChangeFields(make([]byte, 0, 32+len(r.fields)), r.ids[0], r.fields)
		_, err := t.putEvent(OutboxEvent{Type: r.typ, Time: r.at, Data: data, msg: r.ids[0]})
		return err
	}
	seq := t.outbox.Sequence() + 1
	last := seq + uint64(len(r.ids)) - 1
	if err := t.outbox.SetSequence(last); err != nil {
		return err
	}
	num := t.nextEventNumber(r.at)
	t.evNum += uint64(len(r.ids)) - 1
	t.emitted += len(r.ids)
	return t.outbox.Put(u64(seq), encodeRun(num, r))
}

func encodeRun(num uint64, r *outboxRun) []byte {
	b := make([]byte, 0, 48+len(r.typ)+3*len(r.ids)+len(r.fields))
	b = append(b, outboxRunV1)
	b = binary.AppendUvarint(b, num)
	b = appendString(b, r.typ)
	b = appendString(b, "")
	b = appendTime(b, r.at)
	b = binary.AppendUvarint(b, uint64(len(r.ids)))
	prev := ID(0)
	for _, id := range r.ids {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return append(b, r.fields...)
}

// appendChangeFields is messageData.appendChange from stored fields.
func appendChangeFields(b []byte, id ID, fields []byte) []byte {
	b = append(b, `{"message_id":`...)
	b = appendJSONString(b, id.String())
	b = append(b, fields...)
	return append(b, '}')
}

// outboxRecord is one outbox record decoded: a single event, or a run of
// count message events from Seq on.
type outboxRecord struct {
	first OutboxEvent // a run's first event, without Data and msg
	num   uint64      // a run's first event number
	count int
	ids   []ID
	// fields are a run's change fields; nil for a single event.
	fields []byte
}

// last is the Seq of the record's last event.
func (r *outboxRecord) last() uint64 { return r.first.Seq + uint64(r.count) - 1 }

// decodeOutboxRecord decodes a single event or a run. A run's message
// IDs are decoded only if ids is set: expiry needs its time alone.
func decodeOutboxRecord(k, v []byte, ids bool) (outboxRecord, error) {
	if len(v) == 0 || v[0] != outboxRunV1 {
		ev, err := decodeOutboxEvent(k, v)
		return outboxRecord{first: ev, count: 1}, err
	}
	seq := binary.BigEndian.Uint64(k)
	d := decoder{b: v[1:]}
	r := outboxRecord{num: d.uvarint()}
	r.first = OutboxEvent{Seq: seq, Type: d.string(), Endpoint: d.string(), Time: d.time()}
	n := d.count()
	if d.err == nil && n < 2 {
		d.err = errCorrupt
	}
	r.count = n
	if ids && d.err == nil {
		r.ids = make([]ID, n)
		prev := ID(0)
		for i := range r.ids {
			prev += ID(d.uvarint())
			r.ids[i] = prev
		}
		r.fields = d.b
		if d.err == nil && !validFields(d.b) {
			d.err = errCorrupt
		}
	}
	if d.err != nil {
		return outboxRecord{}, fmt.Errorf("decode outbox event %d: %w", seq, d.err)
	}
	return r, nil
}

// validFields reports whether a run's stored fields make valid JSON
// members.
func validFields(fields []byte) bool {
	return json.Valid(appendChangeFields(nil, 1, fields))
}

// event returns the i-th event of a run as stored, like a single
// message event's record decodes.
func (r *outboxRecord) event(i int) OutboxEvent {
	ev := r.first
	ev.Seq += uint64(i)
	ev.ID = "evt_" + ID(r.num+uint64(i)).String()
	ev.msg = r.ids[i]
	ev.Data = appendChangeFields(make([]byte, 0, 32+len(r.fields)), ev.msg, r.fields)
	return ev
}
