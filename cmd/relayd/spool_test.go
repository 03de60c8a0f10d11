package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpoolDefaults(t *testing.T) {
	c, err := parseConfig(t, []string{"--data", "/var/lib/relay"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool != "bolt:/var/lib/relay/spool.db" || c.NodeName != hostname() || c.NodeLease != 30*time.Second {
		t.Errorf("spool %q, node %q, lease %v; want bolt:<data>/spool.db, the host name, 30s", c.Spool, c.NodeName, c.NodeLease)
	}
}

func TestSpoolSettingsFromEnvAndFile(t *testing.T) {
	c, err := parseConfig(t, nil, map[string]string{"RELAY_SPOOL": "postgres://relay:pw@db.example.com/relay", "RELAY_NODE_NAME": "mx-1"},
		"node-lease: 10s\nspool: bolt:/elsewhere.db\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool != "postgres://relay:pw@db.example.com/relay" || c.NodeName != "mx-1" || c.NodeLease != 10*time.Second {
		t.Errorf("spool %q, node %q, lease %v", c.Spool, c.NodeName, c.NodeLease)
	}
	for _, ok := range []string{"bolt:spool.db", "bolt:/srv/relay/spool.db", "postgres://db/relay", "postgresql://relay@db:5433/relay?sslmode=verify-full"} {
		if _, err := parseConfig(t, []string{"--spool", ok}, nil, ""); err != nil {
			t.Errorf("--spool %s: %v", ok, err)
		}
	}
	if _, err := parseConfig(t, []string{"--node-lease", "3s"}, nil, ""); err != nil {
		t.Errorf("--node-lease 3s: %v", err)
	}
}

func TestBadSpoolSettingsAreClearErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--spool", "mysql://relay:SECRET@db/relay"}, want: "--spool mysql://relay:xxxxx@db/relay: want bolt:PATH or postgres://"},
		{args: []string{"--spool", "/var/lib/relay/spool.db"}, want: "want bolt:PATH or postgres://"},
		{args: []string{"--spool", "bolt:"}, want: "--spool bolt: needs a file's path"},
		{args: []string{"--spool", "postgres://relay:SECRET@db:port/relay"}, want: "--spool: not a URL"},
		{env: map[string]string{"RELAY_SPOOL": "redis://db"}, want: "--spool redis://db"},
		{args: []string{"--node-lease", "2s"}, want: "--node-lease 2s: must be at least 3s"},
		{env: map[string]string{"RELAY_NODE_LEASE": "long"}, want: "RELAY_NODE_LEASE"},
		{args: []string{"--node-name", "mx 1"}, want: `--node-name "mx 1": want 1 to 253 characters`},
		{args: []string{"--node-name", "mx\x1b[2J"}, want: "--node-name"},
	} {
		_, err := parseConfig(t, tc.args, tc.env, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want it to mention %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%v: the error shows the password: %v", tc.args, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://relay:pw@db/relay":                      "postgres://relay:xxxxx@db/relay",
		"postgres://db/relay?user=relay&password=pw":        "postgres://db/relay?password=xxxxx&user=relay",
		"postgresql://relay@db/relay?sslpassword=pw&a=b":    "postgresql://relay@db/relay?a=b&sslpassword=xxxxx",
		"postgres://relay@db1,db2/relay?sslmode=disable":    "postgres://relay@db1,db2/relay?sslmode=disable",
		"postgres:///relay?host=/run/postgresql&user=relay": "postgres:///relay?host=/run/postgresql&user=relay",
	} {
		u, err := parseSpool(in)
		if err != nil {
			t.Errorf("parseSpool(%q): %v", in, err)
			continue
		}
		if u.where != want {
			t.Errorf("parseSpool(%q).where = %q, want %q", in, u.where, want)
		}
	}
}

// The spool's settings are judged before anything is made, like the
// others: exit 2, nothing on disk, no password shown.
func TestUnknownSpoolRefusesToStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	code := execute([]string{"--data", data, "--spool", "mysql://relay:SECRET@db/relay"}, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if code != 2 || !strings.Contains(out, "--spool mysql://relay:xxxxx@db/relay") || strings.Contains(out, "SECRET") {
		t.Errorf("exit %d, want 2 with the URL named without its password:\n%s", code, out)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused start created the data directory: %v", err)
	}
}

func TestOpenSpoolRefusesAnUnknownScheme(t *testing.T) {
	cfg := config{Spool: "ftp://relay:SECRET@files/spool", NodeName: "mx-1", NodeLease: 30 * time.Second}
	sp, err := openSpool(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		sp.Close()
		t.Fatal("openSpool opened an ftp:// spool")
	}
	if !strings.Contains(err.Error(), "ftp://relay:xxxxx@files/spool") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q: want the URL named without its password", err)
	}
}

func TestOpenSpoolBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "elsewhere.db")
	sp, err := openSpool(context.Background(), config{Spool: "bolt:" + path}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Clustered() {
		t.Error("a bbolt spool says it is shared")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the spool file is not where --spool says: %v", err)
	}
}

// A database that cannot be reached: an error that names it, without
// its password, and soon (pg.Open has 10 s).
func TestOpenSpoolUnreachablePostgres(t *testing.T) {
	const url = "postgres://relay:SECRET-pw@127.0.0.1:1/relay?sslmode=disable"
	cfg := config{Spool: url, NodeName: "mx-1", NodeLease: 30 * time.Second}
	start := time.Now()
	sp, err := openSpool(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		sp.Close()
		t.Fatal("openSpool reached a database on port 1")
	}
	if strings.Contains(err.Error(), "pg: not yet") {
		t.Skip("pg.Open not yet")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q: want the database named without its password", err)
	}
	if d := time.Since(start); d > pgOpenTimeout+5*time.Second {
		t.Errorf("openSpool took %v", d)
	}
}

// relayd itself, on a database it cannot reach: exit 1 (a failure, not
// a usage error), the URL named without its password.
func TestUnreachablePostgresFailsTheStart(t *testing.T) {
	code, stdout, stderr := runToExit(t, "--data", filepath.Join(t.TempDir(), "data"), "--smtp-listen", freePort(t),
		"--spool", "postgres://relay:SECRET-pw@127.0.0.1:1/relay?sslmode=disable")
	if strings.Contains(stderr, "pg: not yet") {
		t.Skip("pg.Open not yet")
	}
	if code != 1 || !strings.Contains(stderr, "relay:xxxxx@127.0.0.1:1") || strings.Contains(stdout+stderr, "SECRET") {
		t.Errorf("exit %d, want 1 with the URL named without its password\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// A bbolt spool outside the data directory; the admin socket stays in it.
func TestSpoolFileElsewhere(t *testing.T) {
	data, path := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "spool.db")
	d := startRelayd(t, data, "--spool", "bolt:"+path, "--node-name", "mx-7")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no spool at --spool's path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "spool.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a spool file in the data directory as well: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "admin.sock")); err != nil {
		t.Errorf("no admin socket in the data directory: %v", err)
	}
	if errs := d.stderr.String(); !strings.Contains(errs, "spool=bolt:"+path) || !strings.Contains(errs, "node=mx-7") {
		t.Errorf("the start's log line does not name the spool and the node:\n%s", errs)
	}
}
