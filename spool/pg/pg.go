// Package pg keeps the spool in PostgreSQL, shared by every relayd node
// started on the same database: a kv driver (see spool/kv) whose
// transactions are PostgreSQL transactions, serialised across the
// cluster by one advisory lock, plus what a cluster needs (nodes,
// heartbeats, leases, notifications, leadership; kv.Cluster).
//
// Names are unqualified: the URL's search_path decides the schema.
package pg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdrelay/relay/spool/kv"
)

// Options configure a node's connection to the shared spool.
type Options struct {
	// Node names this node (relayd's --node-name); two running nodes
	// cannot share a name. Empty: the host name.
	Node string
	// Lease is how long this node may be silent before another takes
	// over its deliveries (--node-lease). Zero: DefaultLease.
	Lease time.Duration
	// Version is relayd's version, shown in the node list.
	Version string
	// Log receives what the driver has to say (reconnections, takeovers).
	Log *slog.Logger
}

// DefaultLease is SPEC's default --node-lease.
const DefaultLease = 30 * time.Second

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

	closeOnce sync.Once
}

var (
	_ kv.DB      = (*DB)(nil)
	_ kv.Cluster = (*DB)(nil)
)

// Open connects to the database at url, creates or upgrades its schema
// (refusing one newer than it knows), and registers this node. It gives
// up when ctx ends: relayd passes a deadline and exits on the error.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("no node name, and no host name to use for one: %w", err)
		}
		opts.Node = h
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	d := &DB{opts: opts, where: Redact(url), boot: newBoot(), log: opts.Log}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	cfg, err := d.poolConfig(url)
	if err != nil {
		return nil, fmt.Errorf("spool database %s: %w", d.where, err)
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("spool database %s: %w", d.where, err)
	}
	if err := d.pool.Ping(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("spool database %s is unreachable: %w", d.where, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("spool database %s: %w", d.where, err)
	}
	if d.cl, err = startCluster(ctx, d, cfg.ConnConfig); err != nil {
		d.pool.Close()
		return nil, err
	}
	return d, nil
}

// Close stops this node's heartbeats and listener and closes the pool.
// It may be called more than once.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.cl.stop()
		d.pool.Close()
	})
	return nil
}

func (d *DB) poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "relayd/" + d.opts.Node
	// A node cut off or frozen in the middle of a write transaction holds
	// the writers' lock, and every node waits on it: the server ends such
	// a transaction after a while.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(d.txTimeout().Milliseconds())
	var warn sync.Once
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		return d.durable(ctx, c, &warn)
	}
	return cfg, nil
}

// durable keeps a commit's promise: the spool answers 250 after its
// commit, so a session whose commits may be lost in a crash
// (synchronous_commit off) is raised to on. The other settings wait for
// at least the local flush and are the operator's choice.
func (d *DB) durable(ctx context.Context, c *pgx.Conn, warn *sync.Once) error {
	var sc string
	if err := c.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc); err != nil {
		return err
	}
	if sc != "off" {
		return nil
	}
	warn.Do(func() {
		d.log.Warn("synchronous_commit is off on the spool database: relayd sets it to on for its own sessions, as a 250 must follow a durable commit", "database", d.where)
	})
	_, err := c.Exec(ctx, "SET synchronous_commit = on")
	return err
}

// txTimeout bounds a transaction, on the server (a node cut off while
// holding the writers' lock) and on the client (a server that went
// silent): twice the lease, and never under a minute, so that a busy
// transaction on a slow machine is not cut.
func (d *DB) txTimeout() time.Duration { return max(2*d.opts.Lease, time.Minute) }

func newBoot() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var dsnPassword = regexp.MustCompile(`password\s*=\s*('(\\.|[^'])*'|\S+)\s*`)

// Redact is a database URL (or key=value string) without its passwords
// (the user's, and libpq's password and sslpassword parameters), to be
// named in messages and logs. relayd names its --spool with it too, so
// that its errors and the driver's name the database alike.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return strings.TrimSpace(dsnPassword.ReplaceAllString(dsn, ""))
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		q.Del("password")
		q.Del("sslpassword")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

var errClosed = errors.New("spool database is closed")
