package pg

import (
	"context"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
)

type led struct {
	ctx context.Context
	err error
}

func lead(d *DB, ctx context.Context, name string) <-chan led {
	ch := make(chan led, 1)
	go func() {
		l, err := d.Lead(ctx, name)
		ch <- led{l, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan led, who string) context.Context {
	t.Helper()
	select {
	case l := <-ch:
		if l.err != nil {
			t.Fatalf("%s: Lead: %v", who, l.err)
		}
		return l.ctx
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not lead within 10 s", who)
		return nil
	}
}

func ended(t *testing.T, ctx context.Context, who string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s's lead did not end within 10 s", who)
	}
}

func TestLeadPassesOnCancelAndOnALostConnection(t *testing.T) {
	const lease = time.Second
	url := pgtest.Database(t)
	a := open(t, url, "a", lease)
	b := open(t, url, "b", lease)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	actx, acancel := context.WithCancel(ctx)
	al := await(t, lead(a, actx, "webhooks"), "a")
	bch := lead(b, ctx, "webhooks")
	select {
	case l := <-bch:
		t.Fatalf("b leads beside a: %+v", l)
	case <-time.After(lease): // three of b's tries
	}
	acancel()
	ended(t, al, "a")
	bl := await(t, bch, "b")

	// a waits again; b's connection dies on the server.
	ach := lead(a, ctx, "webhooks")
	var pid int
	err := a.pool.QueryRow(ctx, `SELECT pid FROM pg_locks, (SELECT hashtextextended('relay:lead:webhooks', 0) k) l
		WHERE locktype = 'advisory' AND granted
			AND classid::bigint = (k >> 32) & 4294967295 AND objid::bigint = k & 4294967295`).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	sql(t, url, "SELECT pg_terminate_backend($1)", pid)
	ended(t, bl, "b")
	al = await(t, ach, "a")
	if al.Err() != nil {
		t.Fatal("a's new lead has ended")
	}

	// Close ends a lead and a wait.
	bch = lead(b, ctx, "webhooks")
	a.Close()
	ended(t, al, "a")
	await(t, bch, "b")
}

func TestLeadGivesUpWithItsContext(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	b := open(t, url, "b", time.Second)
	await(t, lead(a, context.Background(), "x"), "a")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := b.Lead(ctx, "x"); err != context.DeadlineExceeded {
		t.Fatalf("Lead beside a holder: %v", err)
	}
	// Another name is free.
	await(t, lead(b, context.Background(), "y"), "b")
}

func TestCloseEndsAWaitForTheLead(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	b := open(t, url, "b", time.Second)
	await(t, lead(a, context.Background(), "x"), "a")
	ch := lead(b, context.Background(), "x")
	b.Close()
	select {
	case l := <-ch:
		if l.err != errClosed {
			t.Fatalf("Lead across Close: %v", l.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lead still waits after Close")
	}
	if _, err := b.Lead(context.Background(), "y"); err != errClosed {
		t.Fatalf("Lead after Close: %v", err)
	}
}
