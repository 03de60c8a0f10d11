package pg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/spool/kv"
)

// cluster is this node's part in the cluster: registration, heartbeats,
// the listener, leadership. Its goroutines end with stop.
type cluster struct {
	d     *DB
	cfg   *pgx.ConnConfig // for the connections outside the pool
	every time.Duration   // heartbeat and lock-retry period: lease/3

	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the goroutines; spawn adds to it only while the cluster
	// runs, so that stop's Wait never races an Add.
	wg      sync.WaitGroup
	spawnMu sync.Mutex

	notices chan kv.Notice
	// rescan asks the flusher for one empty Notice: "you may have
	// missed some".
	rescan chan struct{}

	mu   sync.Mutex
	self kv.Node
	// kept is when this node's current unbroken run of heartbeats began
	// (zero after a failed one), lastBeat when the latest succeeded; both
	// local monotonic time, as they measure this node's own silence.
	kept, lastBeat time.Time

	// Test hooks: noBeats stops heartbeats; pid is the listener's backend.
	noBeats atomic.Bool
	pid     atomic.Uint32

	reapedSaid atomic.Bool
}

func startCluster(ctx context.Context, d *DB, cfg *pgx.ConnConfig) (*cluster, error) {
	c := &cluster{
		d: d, cfg: cfg, every: d.opts.Lease / 3,
		notices: make(chan kv.Notice, 256),
		rescan:  make(chan struct{}, 1),
	}
	conn, err := c.connect(ctx, true)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.spawn(func() { c.listen(conn) })
	c.spawn(c.flush)
	c.requestRescan()
	return c, nil
}

// spawn runs fn in a goroutine that stop waits for; false (fn not run)
// once the cluster stops.
func (c *cluster) spawn(fn func()) bool {
	c.spawnMu.Lock()
	defer c.spawnMu.Unlock()
	if c.ctx.Err() != nil {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

func (c *cluster) stop() {
	c.spawnMu.Lock()
	c.cancel()
	c.spawnMu.Unlock()
	c.wg.Wait()
}

func (d *DB) Self() kv.Node {
	d.cl.mu.Lock()
	defer d.cl.mu.Unlock()
	return d.cl.self
}

// The lock a running node holds on its name, on its listener's
// connection: it goes with that connection, kill -9 included.
const nameLock = `SELECT pg_try_advisory_lock(hashtextextended('relay:node:' || $1, 0))`

// register records this boot of the node, keeping reaped: it names a
// boot of the past, never this one.
func (c *cluster) register(ctx context.Context, conn *pgx.Conn) error {
	o := c.d.opts
	var started time.Time
	err := conn.QueryRow(ctx, `INSERT INTO nodes (name, boot, started, heartbeat, lease_ms, version)
		VALUES ($1, $2, now(), now(), $3, $4)
		ON CONFLICT (name) DO UPDATE SET boot = EXCLUDED.boot, started = EXCLUDED.started,
			heartbeat = EXCLUDED.heartbeat, lease_ms = EXCLUDED.lease_ms, version = EXCLUDED.version
		RETURNING started`, o.Node, c.d.boot, o.Lease.Milliseconds(), o.Version).Scan(&started)
	if err != nil {
		return err
	}
	now := time.Now()
	c.mu.Lock()
	c.self = kv.Node{Name: o.Node, Boot: c.d.boot, Started: started, LastSeen: started,
		Lease: o.Lease, Version: o.Version, Alive: true, Self: true}
	c.kept, c.lastBeat = now, now
	c.mu.Unlock()
	return nil
}

// beat renews this node's lease, by the database's clock.
func (c *cluster) beat(ctx context.Context, conn *pgx.Conn) error {
	if c.noBeats.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.every)
	defer cancel()
	var at time.Time
	var reaped bool
	// A node taken over while it was only cut off clears the mark: the
	// attempts it runs from now on must be taken over too if it dies.
	err := conn.QueryRow(ctx, `UPDATE nodes n SET heartbeat = now(), reaped = ''
		FROM (SELECT reaped = boot AS was FROM nodes WHERE name = $1 AND boot = $2) o
		WHERE n.name = $1 AND n.boot = $2
		RETURNING n.heartbeat, o.was`, c.d.opts.Node, c.d.boot).Scan(&at, &reaped)
	if errors.Is(err, pgx.ErrNoRows) {
		err = errors.New("this node's row names another boot: another relayd runs under its name")
	}
	if err != nil {
		c.mu.Lock()
		c.kept = time.Time{}
		c.mu.Unlock()
		return err
	}
	if !reaped {
		c.reapedSaid.Store(false)
	} else if !c.reapedSaid.Swap(true) {
		c.d.log.Error("another node took this node's deliveries over after its lease ran out (they go out again from the spool; this node's transfers of them are cut at their dot)", "node", c.d.opts.Node)
	}
	c.kept1(at)
	return nil
}

// kept1 counts a heartbeat in this node's run of kept leases: a gap of a
// lease or more since the last one starts a new run.
func (c *cluster) kept1(at time.Time) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kept.IsZero() || now.Sub(c.lastBeat) >= c.d.opts.Lease {
		c.kept = now
	}
	c.lastBeat = now
	c.self.LastSeen = at
}

// keptLease: this node has held its own lease, unbroken, for a lease.
func (c *cluster) keptLease() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	lease := c.d.opts.Lease
	return !c.kept.IsZero() && time.Since(c.lastBeat) < lease && time.Since(c.kept) >= lease
}

const nodeColumns = `name, boot, started, heartbeat, lease_ms, version,
	now() - heartbeat < lease_ms * interval '1 millisecond' AND reaped <> boot`

func (d *DB) Nodes() ([]kv.Node, error) {
	return d.nodes(`SELECT ` + nodeColumns + ` FROM nodes ORDER BY name`)
}

// Dead lists the nodes this one may take over (see kv.Cluster): none
// until it has kept its own lease for a lease, so that a node cut off
// from the database with the others does not reap them on its return.
func (d *DB) Dead() ([]kv.Node, error) {
	if !d.cl.keptLease() {
		return nil, nil
	}
	return d.nodes(`SELECT `+nodeColumns+` FROM nodes
		WHERE name <> $1 AND now() - heartbeat > lease_ms * interval '1 millisecond'
			AND reaped <> boot
		ORDER BY name`, d.opts.Node)
}

func (d *DB) nodes(sql string, args ...any) ([]kv.Node, error) {
	ctx, cancel := context.WithTimeout(d.cl.ctx, 10*time.Second)
	defer cancel()
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: listing nodes: %w", kv.ErrStorage, err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kv.Node, error) {
		var n kv.Node
		var ms int64
		err := r.Scan(&n.Name, &n.Boot, &n.Started, &n.LastSeen, &ms, &n.Version, &n.Alive)
		n.Lease = time.Duration(ms) * time.Millisecond
		n.Self = n.Name == d.opts.Node && n.Boot == d.boot
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: listing nodes: %w", kv.ErrStorage, err)
	}
	return ns, nil
}

// Reaped marks n's boot as taken over; a later boot of the same name is
// not affected.
func (d *DB) Reaped(n kv.Node) error {
	ctx, cancel := context.WithTimeout(d.cl.ctx, 10*time.Second)
	defer cancel()
	_, err := d.pool.Exec(ctx, `UPDATE nodes SET reaped = boot WHERE name = $1 AND boot = $2`, n.Name, n.Boot)
	if err != nil {
		return fmt.Errorf("%w: marking node %s reaped: %w", kv.ErrStorage, n.Name, err)
	}
	return nil
}
