package relay

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/spooltest"
)

// TestConcurrentGuessesAreCountedAtOnce: 60 wrong passwords at once from
// one address, each checked by real argon2 slow enough for all of them to
// be in flight together: no more than the address's limit are checked.
func TestConcurrentGuessesAreCountedAtOnce(t *testing.T) {
	in, _ := slowAuthIntake(t)
	guesser := netip.MustParseAddr("192.0.2.7")
	start := make(chan struct{})
	var mu sync.Mutex
	replies := map[string]int{}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			s := &session{in: in, remote: guesser}
			<-start
			err := s.authenticate("app", fmt.Sprint("guess", i))
			mu.Lock()
			replies[smtpReply(err)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if replies["535 5.7.8"] > addrFailures || replies["535 5.7.8"]+replies["454 4.7.0"] != 60 {
		t.Errorf("replies %v: want at most %d passwords checked (535), the rest throttled (454)", replies, addrFailures)
	}
}

// slowAuthIntake is an intake whose credential "app" is hashed with
// argon2 parameters costing milliseconds, not microseconds, so that
// concurrent checks overlap.
func slowAuthIntake(t *testing.T) (*Intake, string) {
	t.Helper()
	sp, _ := spooltest.Open(t)
	t.Cleanup(func() { sp.Close() })
	clk := clock.NewFake(t0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	params := auth.TestParams
	params.MemoryKiB = 8 << 10
	creds, err := auth.New(sp, auth.Options{Params: params, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, password, err := creds.Add("app", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewIntake(IntakeConfig{}, sp, creds, clk, log, nil), password
}

// TestManySessionsOfOneApplicationAreNotThrottled: an application that
// has logged in once opens many sessions at once from one address; a
// password already proven needs no argon2 check, takes no place under the
// throttle, and every session logs in, even with the address one attempt
// short of its limit and that attempt in flight.
func TestManySessionsOfOneApplicationAreNotThrottled(t *testing.T) {
	in, password := slowAuthIntake(t)
	app := netip.MustParseAddr("192.0.2.8")
	if err := (&session{in: in, remote: app}).authenticate("app", password); err != nil {
		t.Fatal(err)
	}
	for i := range addrFailures - 1 {
		(&session{in: in, remote: app}).authenticate("nobody", fmt.Sprint("miss", i))
	}
	if in.throttle.allow(app, "app") == nil { // another session's check, in flight
		t.Fatal("the address was refused before its limit")
	}
	if err := (&session{in: in, remote: app}).authenticate("app", password); err != nil {
		t.Fatalf("a proven password at an address at its limit only by attempts in flight: %v", smtpReply(err))
	}
	start := make(chan struct{})
	var mu sync.Mutex
	replies := map[string]int{}
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			s := &session{in: in, remote: app}
			<-start
			err := s.authenticate("app", password)
			mu.Lock()
			replies[smtpReply(err)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if len(replies) != 1 || replies[smtpReply(nil)] != 60 {
		t.Errorf("replies %v: want all 60 logged in", replies)
	}
}

// TestLoginSuccessGivesBackOnlyWhatItProves: logging in as one credential
// does not let an address guess at another's password beyond its limit;
// it does clear the address's misses at the credential it logged in as,
// and a busy application logging in again and again is never throttled.
func TestLoginSuccessGivesBackOnlyWhatItProves(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxConnections: -1, MaxConnectionsPerIP: -1}})
	if _, _, err := h.creds.Add("other", "", nil); err != nil {
		t.Fatal(err)
	}
	try := func(ip, user, password, want string) {
		t.Helper()
		err := h.dialFrom(ip).Auth(sasl.NewPlainClient("", user, password))
		if got := smtpReply(err); got != want && !(err == nil && want == "235") {
			t.Fatalf("AUTH as %s from %s: %s, want %s", user, ip, got, want)
		}
	}
	// A holder of "app" guesses at "other", logging in between guesses.
	for range addrFailures {
		try("127.0.0.1", "app", h.password, "235")
		try("127.0.0.1", "other", "guess", "535 5.7.8")
	}
	try("127.0.0.1", "other", "guess", "454 4.7.0")
	try("127.0.0.1", "app", h.password, "454 4.7.0") // an address over its limit may not try at all
	// Misses at "app" (a stale password) are cleared by logging in as it.
	for range addrFailures - 1 {
		try("127.0.0.2", "app", "stale", "535 5.7.8")
	}
	try("127.0.0.2", "app", h.password, "235")
	for range addrFailures {
		try("127.0.0.2", "other", "guess", "535 5.7.8")
	}
	try("127.0.0.2", "other", "guess", "454 4.7.0")
	// Many logins from one address: each gives its own attempt back.
	for range 3 * addrFailures {
		try("127.0.0.3", "app", h.password, "235")
	}
}
