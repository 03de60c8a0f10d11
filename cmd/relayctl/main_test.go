package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	// Tables print local times; fix the zone so golden files hold anywhere.
	// Set before any test starts, so no goroutine reads it meanwhile.
	time.Local = time.UTC
	pgtest.Main(m) // stops the PostgreSQL server RELAY_TEST_SPOOL=pg started
}

// relayctl runs the real command tree as main does and returns what it
// printed and its exit status.
func relayctl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// mustRun runs relayctl and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := relayctl(t, args...)
	if code != 0 {
		t.Fatalf("relayctl %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	if errOut != "" {
		t.Errorf("relayctl %s: unexpected stderr:\n%s", strings.Join(args, " "), errOut)
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RELAY_TEST_SPOOL") == "pg" {
		// On a shared spool the node list is the database's: its names
		// and start times are not the test's.
		got, want = nodesSection.ReplaceAllString(got, "${1}nodes"), nodesSection.ReplaceAll(want, []byte("${1}nodes"))
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// nodesSection is status's table of nodes, and the nodes of its JSON.
var nodesSection = regexp.MustCompile(`(?m)^NODE .*\n(?:.+\n)+|("nodes": )\[[^\]]*\]`)
