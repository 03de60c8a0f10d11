package pg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdrelay/relay/spool/kv"
)

const (
	// writerLock is the advisory lock every Update of every node takes:
	// the spool's rules assume one writer at a time.
	writerLock = 7224610002
	// connectTimeout bounds the wait for a pooled connection: with the
	// database down, SMTP answers 451 at once rather than hang.
	connectTimeout = 5 * time.Second
	// inDoubtFor is how long a commit whose answer was lost is asked
	// about before it is reported as failed.
	inDoubtFor = 10 * time.Second
)

// Preload names buckets that every transaction reads whole at its
// start, in the round trip that takes the lock: small buckets read by
// nearly every transaction (meta, pauses, ...). Call it before the
// first transaction. A bucket not made yet costs each transaction a
// failed round trip until it is.
func (d *DB) Preload(buckets ...[]byte) { d.preload = append(d.preload, buckets...) }

// tx is a transaction on one pooled connection. Writes stay in the
// buckets' overlays until commit, which sends them in one round trip
// with the COMMIT.
type tx struct {
	d      *DB
	ctx    context.Context
	cancel context.CancelFunc
	conn   *pgxpool.Conn
	write  bool
	xid    string // Update only: to learn the outcome of a lost COMMIT
	// err poisons the transaction: the first failure of PostgreSQL,
	// wrapped in kv.ErrStorage.
	err     error
	ended   bool
	buckets map[string]*bucket
	notes   []string
	noted   map[string]bool
}

var (
	_ kv.Tx         = (*tx)(nil)
	_ kv.Prefetcher = (*tx)(nil)
	_ kv.Notifier   = (*tx)(nil)
)

// Update runs fn in a write transaction that holds the cluster-wide
// writers' lock (see package kv for the contract).
func (d *DB) Update(fn func(kv.Tx) error) error {
	t, err := d.begin(true)
	if err != nil {
		return err
	}
	defer t.release()
	if ferr := fn(t); t.err != nil || ferr != nil {
		t.rollback()
		if t.err != nil {
			return t.err
		}
		return ferr
	}
	return t.commit()
}

// View runs fn on a REPEATABLE READ snapshot, without the lock.
func (d *DB) View(fn func(kv.Tx) error) error {
	t, err := d.begin(false)
	if err != nil {
		return err
	}
	defer t.release()
	ferr := fn(t)
	if t.err == nil && ferr == nil {
		t.ended = true
		if _, err := t.conn.Exec(t.ctx, "COMMIT"); err != nil {
			t.fail(fmt.Errorf("commit: %w", err))
		}
	}
	if t.err != nil {
		return t.err
	}
	return ferr
}

func (d *DB) storage(err error) error {
	return fmt.Errorf("%w: postgres %s: %w", kv.ErrStorage, d.where, err)
}

func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = t.d.storage(err)
	}
}

func (d *DB) begin(write bool) (*tx, error) {
	for retried := false; ; retried = true {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		conn, err := d.pool.Acquire(ctx)
		cancel()
		if err != nil {
			return nil, d.storage(fmt.Errorf("connect: %w", err))
		}
		// No transaction waits forever on a connection that silently
		// lost its server (the commit loop would stall every writer of
		// this node): the bound of idle_in_transaction_session_timeout.
		tctx, tcancel := context.WithTimeout(context.Background(), d.txTimeout())
		t := &tx{d: d, ctx: tctx, cancel: tcancel, conn: conn, write: write}
		err = t.startPreloading()
		if err == nil {
			return t, nil
		}
		closed := conn.Conn().IsClosed()
		t.release()
		// A pooled connection that the server has closed since (a
		// restart, a failover) fails only here: once more, on another.
		if retried || !closed {
			return nil, d.storage(fmt.Errorf("begin: %w", err))
		}
	}
}

// startPreloading starts the transaction; a preloaded bucket not made
// yet (a new database) is learnt from the same round trip, which is
// then made again without it.
func (t *tx) startPreloading() error {
	err := t.start(t.d.preload)
	if err == nil || !isUndefinedTable(err) {
		return err
	}
	t.rollback()
	t.ended = false
	return t.start(t.existing(t.d.preload))
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

func (t *tx) existing(names [][]byte) [][]byte {
	var out [][]byte
	for _, n := range names {
		if t.buckets[string(n)] != nil {
			out = append(out, n)
		}
	}
	return out
}

// start begins the transaction in one round trip: the lock and the xid
// (Update), every bucket's sequence, the preloaded buckets' rows.
func (t *tx) start(preload [][]byte) error {
	var q pgx.Batch
	if t.write {
		q.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
		q.Queue("SELECT pg_advisory_xact_lock(" + strconv.Itoa(writerLock) + ")")
	} else {
		q.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	}
	q.Queue("SELECT name, seq FROM buckets")
	sql, names := preloadSQL(preload)
	if sql != "" {
		q.Queue(sql)
	}
	br := t.conn.SendBatch(t.ctx, &q)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if t.write {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	if err := t.readBuckets(br); err != nil {
		return err
	}
	if sql != "" {
		if err := t.readPreload(br, names); err != nil {
			return err
		}
	}
	return br.Close()
}

func (t *tx) readBuckets(br pgx.BatchResults) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	t.buckets = make(map[string]*bucket)
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return err
		}
		t.buckets[name] = &bucket{t: t, name: name, seq: uint64(seq)}
	}
	return rows.Err()
}

func preloadSQL(buckets [][]byte) (string, []string) {
	var sb strings.Builder
	var names []string
	for _, b := range buckets {
		if !validName(string(b)) {
			continue
		}
		if len(names) > 0 {
			sb.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&sb, "SELECT %d AS b, k, v FROM kv_%s", len(names), b)
		names = append(names, string(b))
	}
	if len(names) == 0 {
		return "", nil
	}
	sb.WriteString(" ORDER BY 1, 2")
	return sb.String(), names
}

func (t *tx) readPreload(br pgx.BatchResults, names []string) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for _, n := range names {
		if b := t.buckets[n]; b != nil {
			b.whole, b.stored = true, nil
		}
	}
	for rows.Next() {
		var i int32
		var r row
		if err := rows.Scan(&i, &r.k, &r.v); err != nil {
			return err
		}
		if r.v == nil {
			r.v = []byte{}
		}
		if b := t.buckets[names[i]]; b != nil {
			b.stored = append(b.stored, r)
		}
	}
	return rows.Err()
}

var nameRE = regexp.MustCompile(`^[a-z0-9_]{1,60}$`)

// validName: a bucket's name is part of its table's.
func validName(name string) bool { return nameRE.MatchString(name) }

// commit sends the writes, the sequences, the notifications and COMMIT
// in one round trip.
func (t *tx) commit() error {
	var q pgx.Batch
	var names []string
	var seqs []int64
	for _, b := range t.buckets {
		b.flush(&q)
		if b.seqSet {
			names, seqs = append(names, b.name), append(seqs, int64(b.seq))
		}
	}
	if len(names) > 0 {
		q.Queue("UPDATE buckets SET seq = u.seq FROM unnest($1::text[], $2::bigint[]) AS u(name, seq) "+
			"WHERE buckets.name = u.name", names, seqs)
	}
	if len(t.notes) > 0 {
		q.Queue("SELECT pg_notify('relay', p) FROM unnest($1::text[]) AS p", t.notes)
	}
	if q.Len() > 0 {
		// The xid, to learn the outcome of a COMMIT whose answer is lost,
		// is asked for only now: a transaction that writes nothing (the
		// dot gate, a probe) has none, and its COMMIT waits for no WAL
		// flush while every writer waits for the lock.
		if err := t.conn.QueryRow(t.ctx, "SELECT pg_current_xact_id()::text").Scan(&t.xid); err != nil {
			t.fail(fmt.Errorf("xid: %w", err))
			t.rollback()
			return t.err
		}
	}
	q.Queue("COMMIT")
	err := t.conn.SendBatch(t.ctx, &q).Close()
	if err == nil {
		t.ended = true
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) || pgconn.SafeToRetry(err) {
		// PostgreSQL refused, or nothing was sent: not committed.
		t.rollback()
		return t.d.storage(fmt.Errorf("commit: %w", err))
	}
	t.ended = true
	if t.xid == "" {
		return nil // it wrote nothing: whatever became of it, nothing is lost
	}
	return t.d.inDoubt(t.xid, err)
}

// inDoubt learns, on another connection, what became of transaction xid
// whose COMMIT was sent on a connection that broke before answering.
func (d *DB) inDoubt(xid string, cause error) error {
	deadline := time.Now().Add(inDoubtFor)
	for {
		status, err := d.xactStatus(xid, deadline)
		switch {
		case status == "committed":
			return nil
		case status == "aborted":
			return d.storage(fmt.Errorf("commit lost with the connection: %w", cause))
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("transaction %s still %q", xid, status)
			}
			return d.storage(fmt.Errorf("commit in doubt (%w) after: %w", err, cause))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *DB) xactStatus(xid string, deadline time.Time) (string, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var s *string
	if err := d.pool.QueryRow(ctx, "SELECT pg_xact_status($1::xid8)", xid).Scan(&s); err != nil {
		return "", err
	}
	if s == nil {
		return "unknown", nil
	}
	return *s, nil
}

// rollback ends the transaction if it is still open; a connection it
// cannot end is dropped by the pool on release.
func (t *tx) rollback() {
	if t.ended {
		return
	}
	t.ended = true
	ctx, cancel := context.WithTimeout(t.ctx, connectTimeout)
	defer cancel()
	t.conn.Exec(ctx, "ROLLBACK")
}

func (t *tx) release() {
	if t.conn == nil {
		return
	}
	t.rollback()
	t.conn.Release()
	t.conn = nil
	t.cancel()
}

func (t *tx) Bucket(name []byte) kv.Bucket {
	if b := t.buckets[string(name)]; b != nil {
		return b
	}
	return nil
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	switch {
	case t.err != nil:
		return nil, t.err
	case !t.write:
		return nil, errNotWritable
	}
	if b := t.buckets[string(name)]; b != nil {
		return b, nil
	}
	n := string(name)
	if !validName(n) {
		return nil, fmt.Errorf("pg: bucket name %q: not [a-z0-9_]+", n)
	}
	var q pgx.Batch
	q.Queue("CREATE TABLE IF NOT EXISTS kv_" + n + " (k bytea PRIMARY KEY, v bytea NOT NULL)")
	q.Queue("ALTER TABLE kv_" + n + " ALTER COLUMN v SET STORAGE EXTERNAL")
	q.Queue("INSERT INTO buckets (name) VALUES ($1) ON CONFLICT DO NOTHING", n)
	if err := t.conn.SendBatch(t.ctx, &q).Close(); err != nil {
		t.fail(fmt.Errorf("create bucket %s: %w", n, err))
		return nil, t.err
	}
	b := &bucket{t: t, name: n}
	t.buckets[n] = b
	return b, nil
}

// Prefetch reads the keys of bucket not read yet in one round trip.
func (t *tx) Prefetch(name []byte, keys [][]byte) {
	b := t.buckets[string(name)]
	if b == nil || b.whole || t.err != nil {
		return
	}
	var want [][]byte
	for _, k := range keys {
		if _, ok := b.ov.get(k); ok {
			continue
		}
		if _, ok := b.cache[string(k)]; !ok {
			want = append(want, k)
		}
	}
	if len(want) == 0 {
		return
	}
	rows, err := t.conn.Query(t.ctx, "SELECT k, v FROM "+b.table()+" WHERE k = ANY($1::bytea[])", want)
	var got []row
	if err == nil {
		got, err = scanRows(rows, len(want))
	}
	if err != nil {
		t.fail(fmt.Errorf("prefetch from %s: %w", b.name, err))
		return
	}
	for _, k := range want {
		b.remember(k, nil, false)
	}
	for _, r := range got {
		b.remember(r.k, r.v, true)
	}
}

// Notify queues a notice for every node, sent by the commit in the
// format pgnode's listener reads: boot, channel, payload.
func (t *tx) Notify(channel, payload string) {
	if !t.write || t.err != nil {
		return
	}
	s := t.d.boot + "\t" + channel + "\t" + payload
	if t.noted[s] {
		return
	}
	if t.noted == nil {
		t.noted = make(map[string]bool)
	}
	t.noted[s] = true
	t.notes = append(t.notes, s)
}
