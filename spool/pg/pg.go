// Package pg keeps the spool in PostgreSQL, shared by every relayd node
// started on the same database: a kv driver (see spool/kv) whose
// transactions are PostgreSQL transactions, serialised across the
// cluster by one advisory lock, plus what a cluster needs (nodes,
// heartbeats, leases, notifications, leadership; kv.Cluster).
package pg

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdrelay/relay/spool/kv"
)

// Options configure a node's connection to the shared spool.
type Options struct {
	// Node names this node (relayd's --node-name); two running nodes
	// cannot share a name.
	Node string
	// Lease is how long this node may be silent before another takes
	// over its deliveries (--node-lease).
	Lease time.Duration
	// Version is relayd's version, shown in the node list.
	Version string
	// Log receives what the driver has to say (reconnections, takeovers).
	Log *slog.Logger
}

// DB is an open shared spool.
type DB struct {
	pool *pgxpool.Pool
	opts Options
	// where is the database's URL without its password, for messages.
	where string
	// boot is this run's random ID (kv.Node.Boot).
	boot string
	log  *slog.Logger
	// preload names the buckets every transaction reads whole at its
	// start (see Preload).
	preload [][]byte
	cl      *cluster
}

var (
	_ kv.DB      = (*DB)(nil)
	_ kv.Cluster = (*DB)(nil)
)

// Open connects to the database at url, creates or upgrades its schema
// (refusing one newer than it knows), and registers this node.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	return nil, errors.New("pg: not yet")
}

// Close stops this node's heartbeats and listener and closes the pool.
func (d *DB) Close() error { return nil }
