package pg

import (
	"context"
	"errors"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/pgtest"
)

func open(t *testing.T, url, node string, lease time.Duration) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := Open(ctx, url, Options{Node: node, Lease: lease, Version: "test", Log: log.With("node", node)})
	if err != nil {
		t.Fatalf("Open(%s): %v", node, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// sql runs one statement on a connection of the test's own.
func sql(t *testing.T, url, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func query1[T any](t *testing.T, d *DB, q string, args ...any) T {
	t.Helper()
	var v T
	if err := d.pool.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestUnreachableFailsFastWithoutPassword(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://relay:s3cret@127.0.0.1:1/x?connect_timeout=1", Options{Node: "a"})
	if err == nil {
		t.Fatal("Open succeeded on a closed port")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Open took %v to fail", took)
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cret") {
		t.Errorf("error names the password: %s", msg)
	}
	if !strings.Contains(msg, "postgres://relay@127.0.0.1:1/x?connect_timeout=1") || !strings.Contains(msg, "unreachable") {
		t.Errorf("error does not name the URL as unreachable: %s", msg)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h/db?sslmode=disable":      "postgres://u@h/db?sslmode=disable",
		"postgresql://h/db?password=pw&sslmode=off": "postgresql://h/db?sslmode=off",
		"host=h password=pw user=u":                 "host=h user=u",
		"host=h password='p w' user=u":              "host=h user=u",
		"postgres:///db?host=/run/pg":               "postgres:///db?host=/run/pg",
		"postgres://h/db?sslpassword=k&sslmode=on":  "postgres://h/db?sslmode=on",
		"mysql://u:pw@h/db":                         "mysql://u@h/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSchemaIsCreatedOnceAndRecorded(t *testing.T) {
	url := pgtest.Database(t)
	d := open(t, url, "a", time.Second)
	ms, _ := migrations()
	if v := query1[int](t, d, "SELECT version FROM schema_version"); v != len(ms) {
		t.Errorf("schema version %d, want %d", v, len(ms))
	}
	if by := query1[string](t, d, "SELECT by_node FROM schema_version"); by != "a" {
		t.Errorf("upgraded by %q, want a", by)
	}
	// A second node finds it done.
	open(t, url, "b", time.Second)
	if n := query1[int](t, d, "SELECT count(*) FROM buckets"); n != 0 {
		t.Errorf("%d buckets in a fresh spool", n)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	url := pgtest.Database(t)
	open(t, url, "a", time.Second).Close()
	sql(t, url, "UPDATE schema_version SET version = 999")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, url, Options{Node: "b"})
	ms, _ := migrations()
	want := "spool schema version 999 is newer than this relayd knows (" + strconv.Itoa(len(ms)) + "): upgrade relayd"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open on a newer schema: %v, want %q", err, want)
	}
}

func TestSynchronousCommit(t *testing.T) {
	for set, want := range map[string]string{"off": "on", "local": "local", "remote_write": "remote_write", "on": "on"} {
		t.Run(set, func(t *testing.T) {
			url := pgtest.Database(t)
			u, _ := neturl.Parse(url)
			sql(t, url, "ALTER DATABASE "+strings.TrimPrefix(u.Path, "/")+" SET synchronous_commit = "+set)
			d := open(t, url, "a", time.Second)
			if got := query1[string](t, d, "SHOW synchronous_commit"); got != want {
				t.Errorf("synchronous_commit %s became %s, want %s", set, got, want)
			}
			if got := query1[string](t, d, "SELECT current_setting('application_name')"); got != "relayd/a" {
				t.Errorf("application_name %q", got)
			}
		})
	}
}

func TestNodeNameInUse(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, url, Options{Node: "a", Lease: time.Second})
	var inUse errNameInUse
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), `node name "a" is in use by a running relayd (choose another --node-name)`) {
		t.Fatalf("second Open under the same name: %v", err)
	}
	a.Close()
	a.Close() // idempotent
	b := open(t, url, "a", time.Second)
	if b.Self().Boot == a.Self().Boot {
		t.Error("a restart kept its boot")
	}
}
