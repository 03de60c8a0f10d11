// Package pgtest starts a real PostgreSQL server for tests: Debian's
// server binaries (initdb, pg_ctl) run into a temporary directory, as an
// unprivileged user when the tests run as root (PostgreSQL refuses to run
// as root), listening only on a Unix socket in that directory, so that
// test binaries never compete for a TCP port.
//
// One server serves a whole test binary (Main starts it lazily and stops
// it after the tests); each test gets a database of its own from
// Database. A test that stops and starts the server (the database lost
// under a running relayd) takes one of its own from Own. Without PostgreSQL installed, a test that asks for one is
// skipped, or fails under CI (see package testenv), where .ci/run installs
// the server. RELAY_TEST_POSTGRES_URL points the tests at a server that
// is already running instead (its role must be allowed to create
// databases).
//
// The server runs with fsync off: a test kills processes, not the
// machine, and the operating system keeps what PostgreSQL wrote.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/testenv"
)

// Server is a PostgreSQL server started for tests.
type Server struct {
	dir  string // holds the data directory, the log and the socket
	bin  string // directory of pg_ctl and initdb
	cred *syscall.Credential
	url  string // superuser URL of database "postgres"
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
	dbs       atomic.Int64
)

// Main runs a test binary's tests and stops the shared server, if one was
// started, after them. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to clean up after the tests:
// it returns m.Run's exit code instead of exiting.
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// Database creates an empty database for t on the shared server and
// returns its URL. The database is dropped when t ends.
func Database(t testing.TB) string {
	t.Helper()
	base := os.Getenv("RELAY_TEST_POSTGRES_URL")
	if base == "" {
		once.Do(func() { shared, sharedErr = Start() })
		if errors.Is(sharedErr, errNotInstalled) {
			testenv.Missing(t, "%v", sharedErr)
		}
		if sharedErr != nil {
			t.Fatalf("starting PostgreSQL: %v", sharedErr)
		}
		base = shared.url
	}
	return createDatabase(t, base)
}

// Own starts a server for t alone, removed when t ends: for a test that
// stops it (Halt) and starts it again (Restart) under a running relayd.
// RELAY_TEST_POSTGRES_URL does not apply: the server must be this
// test's to stop.
func Own(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if errors.Is(err, errNotInstalled) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Database creates an empty database for t on s and returns its URL.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	return createDatabase(t, s.url)
}

func createDatabase(t testing.TB, base string) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbs.Add(1))
	if err := exec1(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec1(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

func exec1(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + name
	return u.String()
}

var errNotInstalled = errors.New("PostgreSQL's server (initdb, pg_ctl) is not installed (apt-get install postgresql)")

// Start initialises a data directory and starts a server in it.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	owner := -1
	if os.Geteuid() == 0 {
		u, err := unprivileged()
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred, owner = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid
	}
	if s.dir, err = os.MkdirTemp("", "relay-pg-"); err != nil {
		return nil, err
	}
	if owner >= 0 {
		if err := os.Chown(s.dir, owner, -1); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "relay", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		s.Stop()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.Restart(); err != nil {
		s.Stop()
		return nil, err
	}
	s.url = (&url.URL{Scheme: "postgres", User: url.User("relay"), Path: "/postgres",
		RawQuery: url.Values{"host": {s.dir}}.Encode()}).String()
	return s, nil
}

// Restart starts the server on its data directory: after Halt, with
// everything it had committed.
func (s *Server) Restart() error {
	data := filepath.Join(s.dir, "data")
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories='%s' -c fsync=off -c full_page_writes=off -c max_connections=200", s.dir)
	if out, err := s.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Halt stops the server as an administrator would (pg_ctl stop -m fast:
// sessions are ended, then the server shuts down cleanly), keeping its
// data for Restart.
func (s *Server) Halt() error {
	out, err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// URL is the superuser's URL of the server's "postgres" database.
func (s *Server) URL() string { return s.url }

// Stop stops the server at once and removes its directory.
func (s *Server) Stop() {
	if s.dir == "" {
		return
	}
	data := filepath.Join(s.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		s.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
	}
	os.RemoveAll(s.dir)
}

func (s *Server) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, prog), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// binDir finds pg_ctl: on PATH, else in Debian's versioned directories,
// the newest first.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// unprivileged is the user a root test runs PostgreSQL as: Debian's
// postgres, which the server package creates, else nobody.
func unprivileged() (*user.User, error) {
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists to run PostgreSQL as")
}
