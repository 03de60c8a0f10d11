package pg

import (
	"context"
	"errors"

	"github.com/holdrelay/relay/spool/kv"
)

// cluster is this node's part in the cluster: registration, heartbeats,
// the listener, leadership.
type cluster struct{}

func (d *DB) Self() kv.Node             { return kv.Node{} }
func (d *DB) Nodes() ([]kv.Node, error) { return nil, errors.New("pg: not yet") }
func (d *DB) Dead() ([]kv.Node, error)  { return nil, errors.New("pg: not yet") }
func (d *DB) Reaped(n kv.Node) error    { return errors.New("pg: not yet") }
func (d *DB) Notices() <-chan kv.Notice { return nil }
func (d *DB) Lead(ctx context.Context, name string) (context.Context, error) {
	return nil, errors.New("pg: not yet")
}
