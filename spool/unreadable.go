package spool

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Unreadable names the pause, batch and freeze records that cannot be
// decoded ("pause *", "batch promo", "freeze shop"). Each still stops the
// mail it may cover (see Pause.Unreadable), maybe more than it did: an
// operator must look, then resume, set the status or enable again, which
// writes a good record.
func (s *Spool) Unreadable() ([]string, error) {
	var out []string
	err := s.view(func(t *txn) error {
		kinds := []struct {
			name string
			b    *bolt.Bucket
			bad  func(k, v []byte) bool
		}{
			{"pause", t.pauses, func(k, v []byte) bool { return decodePause(k, v).Unreadable }},
			{"batch", t.batches, func(k, v []byte) bool { return decodeBatch(string(k), v).Unreadable }},
			{"freeze", t.frozen, func(_, v []byte) bool { return json.Unmarshal(v, &freeze{}) != nil }},
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
