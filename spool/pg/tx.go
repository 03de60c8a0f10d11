package pg

import (
	"errors"

	"github.com/holdrelay/relay/spool/kv"
)

func (d *DB) Update(fn func(kv.Tx) error) error { return errors.New("pg: not yet") }
func (d *DB) View(fn func(kv.Tx) error) error   { return errors.New("pg: not yet") }

// Preload names buckets that every transaction reads whole at its
// start, in the round trip that takes the lock: small buckets read by
// nearly every transaction (meta, pauses, ...).
func (d *DB) Preload(buckets ...[]byte) { d.preload = append(d.preload, buckets...) }
