package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/holdrelay/relay/spool/kv"
)

// The listener's connection holds the node's name lock, listens on the
// "relay" channel and carries the heartbeats: one connection that is
// either whole or being made again.

// errNameInUse is Open's answer when another running node holds the name.
type errNameInUse string

func (e errNameInUse) Error() string {
	return fmt.Sprintf("node name %q is in use by a running relayd (choose another --node-name)", string(e))
}

// connect makes the listener's connection: the name lock, LISTEN, and
// the node's row (registered at the first connection, renewed after).
func (c *cluster) connect(ctx context.Context, first bool) (*pgx.Conn, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("spool database %s is unreachable: %w", c.d.where, err)
	}
	err = c.prepare(ctx, conn, first)
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	c.pid.Store(conn.PgConn().PID())
	return conn, nil
}

// dial connects outside the pool, for a connection that holds a session
// lock (the name, a lead). The server ends such a session once it has
// been silent for two leases, so that a node cut off from the database,
// or stopped, lets its locks go then rather than when the server's TCP
// keepalives give up (hours): its owner beats or pings three times a
// lease, so a busy machine's late beat does not cost it its connection. PostgreSQL before 14 has no idle_session_timeout: there, the
// locks wait for the keepalives.
func (c *cluster) dial(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	_, err = conn.Exec(ctx, fmt.Sprintf("SET idle_session_timeout = %d", 2*c.d.opts.Lease.Milliseconds()))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42704" { // undefined_object
		c.d.log.Debug("this PostgreSQL has no idle_session_timeout: a dead node's locks last until its connection's keepalives give up", "err", err)
		err = nil
	}
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// nameWait is how long a starting node waits for its name to be free.
const nameWait = 2 * time.Second

func (c *cluster) prepare(ctx context.Context, conn *pgx.Conn, first bool) error {
	name := c.d.opts.Node
	var locked bool
	// A node closed a moment ago still holds its name until the server
	// has ended its session, which follows the close by a little: a
	// restart under the same name asks again for a short while.
	for deadline := time.Now().Add(nameWait); ; {
		if err := conn.QueryRow(ctx, nameLock, name).Scan(&locked); err != nil {
			return fmt.Errorf("spool database %s: taking the node name: %w", c.d.where, err)
		}
		if locked || !first || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !locked && first {
		return errNameInUse(name)
	}
	if !locked {
		// The old connection's lock outlived it on the server for a
		// while (until idle_session_timeout ends it), or another relayd
		// started under this name meanwhile. Without the lock, nothing
		// keeps a third from starting under it: no beats, no notices
		// until it is held again (reconnecting retries).
		return fmt.Errorf("after reconnecting, node name %q is held by another connection (is another relayd running under it?)", name)
	}
	if _, err := conn.Exec(ctx, "LISTEN relay"); err != nil {
		return fmt.Errorf("spool database %s: LISTEN: %w", c.d.where, err)
	}
	if first {
		return c.register(ctx, conn)
	}
	return c.beat(ctx, conn)
}

// listen waits for notifications and beats between them, remaking the
// connection when it breaks.
func (c *cluster) listen(conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	next := time.Now().Add(c.every)
	for c.ctx.Err() == nil {
		if conn == nil {
			if conn = c.reconnect(); conn == nil {
				return
			}
			next = time.Now().Add(c.every)
		}
		err := c.wait(conn, next)
		if err == nil {
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
			next = time.Now().Add(c.every)
			if err = c.beat(c.ctx, conn); err == nil {
				continue
			}
		}
		if c.ctx.Err() != nil {
			return
		}
		c.d.log.Warn("lost the spool database's listener connection: reconnecting", "database", c.d.where, "err", err)
		c.mu.Lock()
		c.kept = time.Time{}
		c.mu.Unlock()
		conn.Close(context.Background())
		conn = nil
	}
}

// wait delivers one notification, or returns DeadlineExceeded at until.
func (c *cluster) wait(conn *pgx.Conn, until time.Time) error {
	ctx, cancel := context.WithDeadline(c.ctx, until)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	if n != nil {
		c.deliver(n)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded && !conn.IsClosed() {
		// Also when until had passed before the call (a steady stream
		// of notices): time to beat, not a broken connection.
		return context.DeadlineExceeded
	}
	return err
}

// reconnect tries again and again, 100 ms apart at first, then up to 2 s;
// nil when the cluster stops.
func (c *cluster) reconnect() *pgx.Conn {
	delay := 100 * time.Millisecond
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout+c.every)
		conn, err := c.connect(ctx, false)
		cancel()
		if err == nil {
			c.d.log.Info("reconnected to the spool database", "database", c.d.where)
			c.requestRescan()
			return conn
		}
		if c.ctx.Err() != nil {
			return nil
		}
		c.d.log.Debug("reconnecting to the spool database", "database", c.d.where, "err", err)
		delay = min(2*delay, 2*time.Second)
		t.Reset(delay)
	}
}

// deliver passes on another node's notification. Its payload is "boot
// \t channel \t payload" (see Tx.Notify); this boot's own are dropped.
// The listener never blocks on a slow reader: when Notices is full, the
// notice is dropped and an empty one (rescan) sent later instead.
func (c *cluster) deliver(n *pgconn.Notification) {
	boot, rest, ok := strings.Cut(n.Payload, "\t")
	if !ok || boot == c.d.boot {
		return
	}
	channel, payload, ok := strings.Cut(rest, "\t")
	if !ok {
		return
	}
	select {
	case c.notices <- kv.Notice{Channel: channel, Payload: payload}:
	default:
		c.d.log.Debug("notices are full: dropping one, a rescan follows", "channel", channel)
		c.requestRescan()
	}
}

func (c *cluster) requestRescan() {
	select {
	case c.rescan <- struct{}{}:
	default: // one is pending already: it covers this one too
	}
}

// flush sends the empty Notices asked for, waiting for room: the one
// goroutine that may block on the reader.
func (c *cluster) flush() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.rescan:
		}
		select {
		case <-c.ctx.Done():
			return
		case c.notices <- kv.Notice{}:
		}
	}
}

// Notices carries other nodes' notifications, and an empty Notice after
// Open, after a reconnection and after notices were dropped for want of
// room. It is never closed.
func (d *DB) Notices() <-chan kv.Notice { return d.cl.notices }
