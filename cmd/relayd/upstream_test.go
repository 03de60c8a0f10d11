package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// stalledAtDot starts relayd delivering at once to an upstream that sits
// on its reply to the dot, submits one message and waits until the
// upstream has it all. It returns the message's ID.
func stalledAtDot(t *testing.T, data string, args ...string) (*proc, spool.ID) {
	t.Helper()
	up := &smtptest.Server{}
	gate := up.StallEndOfData()
	t.Cleanup(gate.Release)
	args = append([]string{"--hold", "0s", "--upstream", "smtp://" + up.Start(t) + "?tls=none",
		"--admin-listen", "unix:" + shortSock(t)}, args...)
	d := startRelayd(t, data, args...)
	reply, err := submit(d.smtp, d.password, "withheld")
	if err != nil {
		t.Fatal(err)
	}
	_, text, _ := strings.Cut(reply, "queued as ")
	id, err := spool.ParseID(text)
	if err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	select {
	case <-gate.Reached():
	case <-time.After(20 * time.Second):
		t.Fatalf("no delivery reached the upstream\nstderr:\n%s", d.stderr)
	}
	return d, id
}

// SIGTERM with --shutdown-timeout 1s stops relayd in about a second even
// when the upstream withholds its reply to the dot (it took the
// transport's 5 minutes), and the message comes back as a crash leaves it.
func TestSIGTERMCutsAnUnansweredDot(t *testing.T) {
	data := t.TempDir()
	d, id := stalledAtDot(t, data, "--shutdown-timeout", "1s")
	start := time.Now()
	sp := stopAndCheck(t, d, data, "after a shutdown that cut a delivery")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("relayd took %v to stop with --shutdown-timeout 1s", took)
	}
	m, err := sp.Get(id)
	if err != nil || m.State != spool.Queued || !m.Interrupted {
		t.Errorf("after the restart: %s, interrupted %v (%v); want queued, interrupted", m.State, m.Interrupted, err)
	}
}

// --upstream-timeout bounds the wait for the dot's reply.
func TestUpstreamTimeoutReachesTheTransport(t *testing.T) {
	d, id := stalledAtDot(t, t.TempDir(), "--upstream-timeout", "1s")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.stderr.String(), "no reply to the end of data") {
		if time.Now().After(deadline) {
			t.Fatalf("no timed-out attempt of %s logged 20s after a 1s --upstream-timeout\nstderr:\n%s", id, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUpstreamTimeoutSettings(t *testing.T) {
	c, err := parseConfig(t, nil, map[string]string{"RELAY_UPSTREAM_TIMEOUT": "90s"}, "")
	if err != nil || c.UpstreamTimeout != 90*time.Second {
		t.Errorf("RELAY_UPSTREAM_TIMEOUT=90s: %v, %v", c.UpstreamTimeout, err)
	}
	if c, _ := parseConfig(t, nil, nil, ""); c.UpstreamTimeout != 5*time.Minute {
		t.Errorf("default --upstream-timeout %v, want 5m", c.UpstreamTimeout)
	}
	if _, err := parseConfig(t, []string{"--upstream-timeout", "0s"}, nil, ""); err == nil || !strings.Contains(err.Error(), "--upstream-timeout") {
		t.Errorf("--upstream-timeout 0s: %v", err)
	}
	var out, errb bytes.Buffer
	if execute([]string{"--help"}, &out, &errb); !strings.Contains(out.String(), "--upstream-timeout") {
		t.Error("--help does not mention --upstream-timeout")
	}
}

// --upstream-fallback takes the mail while --upstream cannot be reached.
func TestUpstreamFallbackTakesTheMailWhileTheUpstreamIsDown(t *testing.T) {
	t.Parallel()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()
	fb := &smtptest.Server{}
	d := startRelayd(t, t.TempDir(), "--hold", "0s", "--upstream", "smtp://"+downAddr+"?tls=none",
		"--upstream-fallback", "smtp://"+fb.Start(t)+"?tls=none", "--admin-listen", "unix:"+shortSock(t))
	if _, err := submit(d.smtp, d.password, "via the fallback"); err != nil {
		t.Fatal(err)
	}
	if got := fb.Wait(t, 1); !bytes.Contains(got[0].Data, []byte("Subject: via the fallback")) {
		t.Errorf("the fallback got:\n%s", got[0].Data)
	}
}
