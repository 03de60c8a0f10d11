package pg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

const leadLock = `hashtextextended('relay:lead:' || $1, 0)`

// Lead blocks until this node holds the cluster-wide lock called name,
// on a connection of its own (a session lock: it goes when that
// connection does, kill -9 included), and returns a context that ends
// when the connection fails a ping, ctx ends or the DB closes; the lock
// is then let go.
func (d *DB) Lead(ctx context.Context, name string) (context.Context, error) {
	c := d.cl
	if c.ctx.Err() != nil {
		return nil, errClosed
	}
	conn, err := c.awaitLead(ctx, name)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	if !c.spawn(func() { c.hold(lctx, cancel, conn, name) }) {
		cancel()
		conn.Close(context.Background())
		return nil, errClosed
	}
	return lctx, nil
}

// awaitLead tries for the lock every lease/3 and returns the connection
// that holds it.
func (c *cluster) awaitLead(ctx context.Context, name string) (*pgx.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	t := time.NewTicker(c.every)
	defer t.Stop()
	var conn *pgx.Conn
	for {
		var held bool
		if conn, held = c.tryLead(ctx, conn, name); held {
			return conn, nil
		}
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		if c.ctx.Err() != nil {
			return nil, errClosed
		}
		return nil, ctx.Err()
	}
}

// tryLead asks once, connecting first if conn is nil; the connection is
// kept for the next try, nil if it failed.
func (c *cluster) tryLead(ctx context.Context, conn *pgx.Conn, name string) (*pgx.Conn, bool) {
	var err error
	if conn == nil {
		if conn, err = c.dial(ctx); err != nil {
			c.d.log.Debug("connecting to the spool database to lead", "lock", name, "err", err)
			return nil, false
		}
	}
	var held bool
	if err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+leadLock+")", name).Scan(&held); err != nil {
		c.d.log.Debug("trying to lead", "lock", name, "err", err)
		conn.Close(context.Background())
		return nil, false
	}
	return conn, held
}

// hold pings the lock's connection every lease/3: a failed ping means
// the lock may be gone (the server dropped the session), so the work
// under it stops.
func (c *cluster) hold(ctx context.Context, cancel context.CancelFunc, conn *pgx.Conn, name string) {
	defer cancel()
	defer conn.Close(context.Background())
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return // closing the connection lets the lock go
		case <-ctx.Done():
			uctx, ucancel := context.WithTimeout(c.ctx, c.every)
			conn.Exec(uctx, "SELECT pg_advisory_unlock("+leadLock+")", name)
			ucancel()
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, c.every)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil && ctx.Err() == nil {
			c.d.log.Warn("lost the lead: its connection to the spool database failed", "lock", name, "err", err)
			return
		}
	}
}
