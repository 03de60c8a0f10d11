package spool

import (
	"encoding/binary"
	"reflect"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{ID: 1, Rcpts: []Recipient{{Addr: "a@b"}}, Received: t0, Release: t0, State: Queued},
		{ID: ^ID(0), Credential: "app", From: "ü@x", Size: 1 << 40, Subject: "héllo", MessageID: "<a@b>",
			Rcpts:    []Recipient{{Addr: "a@b", State: RcptDelivered, Reply: "250 ok"}, {Addr: "c@d", State: RcptFailed, Reply: "550 no"}},
			Received: t0, Release: t0.Add(time.Hour), State: Sending, Attempts: 7, LastError: "451 later",
			Finished: t0.Add(2 * time.Hour), HeldBy: HeldByPause, Reason: "why",
			Intent: &Intent{Drop: true, Actor: "token:ops", Reason: "spam"}, Interrupted: true},
		{ID: 2, Rcpts: []Recipient{{Addr: "a@b"}}, Received: t0, Release: t0, State: Sending,
			Intent: &Intent{Actor: "uid:0", Reason: "runaway", Holder: HeldByFreeze}},
	} {
		b, err := encodeMessage(&m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
		}
		for i := 0; i < len(b); i++ {
			if _, err := decodeMessage(b[:i]); err == nil {
				t.Fatalf("truncated record (%d of %d bytes) decoded", i, len(b))
			}
		}
	}
}

// TestRecordRouteSection: the upstream of the last attempt rides in the
// record's optional tail, after the scheduling section if any; a record
// written before it existed (no tail) decodes with no upstream.
func TestRecordRouteSection(t *testing.T) {
	base := Message{ID: 3, Rcpts: []Recipient{{Addr: "a@b"}}, Received: t0, Release: t0, State: Delivered}
	old, err := encodeMessage(&base)
	if err != nil {
		t.Fatal(err)
	}
	routed, sched := base, base
	routed.Upstream = "smtp://fallback.example:587"
	sched.Upstream, sched.Batch, sched.SendAt = "file:///out", "b1", t0.Add(time.Hour)
	for _, m := range []Message{routed, sched} {
		b, err := encodeMessage(&m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeMessage(b); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: %v\n got %+v\nwant %+v", err, got, m)
		}
		if got, err := decodeMessage(b[:len(old)]); err != nil || got.Upstream != "" {
			t.Errorf("record without its tail: upstream %q, %v", got.Upstream, err)
		}
	}
	// Sections out of order, or an unknown one, are corrupt.
	for _, tail := range [][]byte{{tagRoute, 0, tagScheduling}, {tagRoute, 0, tagRoute, 0}, {9}} {
		if _, err := decodeMessage(append(append([]byte(nil), old...), tail...)); err == nil {
			t.Errorf("tail %v decoded", tail)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	m := Message{ID: 9, Credential: "app", From: "a@b", Rcpts: []Recipient{{Addr: "c@d"}}, Received: t0, Release: t0, State: Waiting,
		Intent: &Intent{Actor: "uid:0"}}
	b, _ := encodeMessage(&m)
	f.Add(b)
	m.Upstream, m.Batch = "smtp://up:25", "b"
	b, _ = encodeMessage(&m)
	f.Add(b)
	f.Add([]byte{recordV1})
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := encodeMessage(&m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeMessage(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("decoded record does not round-trip: %v", err)
		}
	})
}

// TestRecordHistorySection: a bulk action's history events ride in the
// record's tail, after every other section.
func TestRecordHistorySection(t *testing.T) {
	m := Message{ID: 4, Rcpts: []Recipient{{Addr: "a@b"}}, Received: t0, Release: t0, State: Held, HeldBy: HeldByOperator,
		Upstream: "smtp://up:25", DSN: 9, Batch: "b1"}
	m.history = []byte{}
	for i, ev := range []Event{{Time: t0, State: Held, Actor: "uid:0", Reason: "why"}, {Time: t0.Add(time.Second), State: Queued, Actor: "token:ops", Upstream: "x"}} {
		b := appendString(appendString(appendString(append(appendTime(binary.AppendUvarint(m.history, uint64(i+1)), ev.Time), byte(ev.State)), ev.Actor), ev.Reason), ev.Upstream)
		m.history = b
	}
	b, err := encodeMessage(&m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMessage(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, m)
	}
	evs, err := inlineEvents(&got)
	if err != nil || len(evs) != 2 || evs[1].seq != 2 || evs[1].ev.Upstream != "x" || evs[0].ev.Reason != "why" || !evs[0].ev.Time.Equal(t0) {
		t.Fatalf("events %+v %v", evs, err)
	}
	for i := len(b) - len(m.history) - 1; i < len(b); i++ {
		if _, err := decodeMessage(b[:i]); err == nil {
			t.Fatalf("truncated history (%d of %d bytes) decoded", i, len(b))
		}
	}
}
