package spool

import (
	"encoding/json"
	"fmt"

	"github.com/holdrelay/relay/spool/kv"
)

// Unreadable names the pause, batch, freeze, brake and webhook records that
// cannot be decoded ("pause *", "batch promo", "freeze shop", "webhook
// crm"). Each pause, batch or freeze still stops the mail it may cover
// (see Pause.Unreadable), maybe more than it did: an operator must look,
// then resume, set the status or enable again, which writes a good
// record. A webhook is not delivered to, and keeps its events until they
// are --webhook-max-age old, until an operator removes it and adds it
// again.
func (s *Spool) Unreadable() ([]string, error) {
	var out []string
	err := s.view(func(t *txn) error {
		kinds := []struct {
			name string
			b    kv.Bucket
			bad  func(k, v []byte) bool
		}{
			{"pause", t.pauses, func(k, v []byte) bool { return decodePause(k, v).Unreadable }},
			{"batch", t.batches, func(k, v []byte) bool { return decodeBatch(string(k), v).Unreadable }},
			{"freeze", t.frozen, func(_, v []byte) bool { return json.Unmarshal(v, &freeze{}) != nil }},
			{"brake", t.brakes, func(k, v []byte) bool { return decodeBrake(string(k), v).Unreadable }},
			{"webhook", t.hooks, func(_, v []byte) bool { return json.Unmarshal(v, &Webhook{}) != nil }},
		}
		for _, kind := range kinds {
			err := kind.b.ForEach(func(k, v []byte) error {
				if kind.bad(k, v) {
					out = append(out, kind.name+" "+string(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// SpoilRecord overwrites the pause ("pause"; name "" for the global
// one), batch ("batch"), freeze ("freeze"), brake ("brake") or webhook ("webhook") record
// of name with bytes no decoder reads, as a bad disk or a bad hand would. FOR TESTS ONLY:
// it lets the tests of other packages see a record fail closed.
func (s *Spool) SpoilRecord(kind, name string) error {
	return s.update(func(t *txn) error {
		b, key := map[string]kv.Bucket{"pause": t.pauses, "batch": t.batches, "freeze": t.frozen,
			"webhook": t.hooks, "brake": t.brakes}[kind], []byte(name)
		if b == nil {
			return fmt.Errorf("spoil record: no kind %q", kind)
		}
		if kind == "pause" {
			key = pauseKey(name)
		}
		return b.Put(key, []byte{0xff, 0})
	})
}
