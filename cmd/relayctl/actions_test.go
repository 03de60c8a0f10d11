package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// result runs a change with -o json and decodes its answer.
func result(t *testing.T, args ...string) admin.ActionResult {
	t.Helper()
	var res admin.ActionResult
	out := mustRun(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return res
}

// TestFlush: a flushed message reaches the upstream within a second
// (guarantee 4) without the clock moving: flush makes it due now, and
// wakes the dispatcher.
func TestFlush(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "now please")
	other := rd.send(t, "shop", "later")

	start := time.Now()
	out := mustRun(t, "--admin", rd.Socket, "flush", id)
	msgs := rd.up.Wait(t, 1)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the flushed message reached the upstream after %v, want within a second", took)
	}
	if !strings.Contains(string(msgs[0].Data), "Subject: now please") {
		t.Errorf("upstream got:\n%s", msgs[0].Data)
	}
	if !strings.HasPrefix(out, "flushed ") || !strings.Contains(out, "not found") {
		t.Errorf("flush output:\n%s", out)
	}
	rd.waitState(t, id, spool.Delivered)
	if now := rd.Clock.Now(); !now.Equal(servertest.Now) {
		t.Errorf("the clock moved to %v", now)
	}
	if st := rd.state(t, other); st != spool.Waiting {
		t.Errorf("the other message is %s, want waiting", st)
	}
	if got := len(rd.up.Messages()); got != 1 {
		t.Errorf("upstream has %d messages, want 1", got)
	}
}

// TestDrop answers truthfully for each message it was given.
func TestDrop(t *testing.T) {
	rd := startRelayd(t)
	delivered := rd.send(t, "shop", "gone already")
	waiting := rd.send(t, "shop", "stop it")
	mustRun(t, "--admin", rd.Socket, "flush", delivered)
	rd.waitState(t, delivered, spool.Delivered)

	// An ID that names no message fails the command, after the others
	// are dealt with and the answer printed.
	out, errOut, code := relayctl(t, "--admin", rd.Socket, "drop", waiting, delivered, "0000000000001", "--reason", "bad template")
	if code != 1 || errOut != "Error: drop: no such message: 0000000000001\n" {
		t.Errorf("drop of an unknown ID: exit %d, stderr %q", code, errOut)
	}
	golden(t, "drop.golden", out)
	rd.states(t, map[string]spool.State{waiting: spool.Dropped, delivered: spool.Delivered})

	res := result(t, "--admin", rd.Socket, "drop", waiting, delivered)
	want := map[string][]string{"finished": {waiting}, "delivered": {delivered}}
	if len(res.IDs) != len(want) || res.Counts["changed"] != 0 || res.Counts["finished"] != 1 || res.Action != "drop" || res.DryRun {
		t.Errorf("second drop: %+v", res)
	}
	for o, ids := range want {
		if !slices.Equal(res.IDs[o], ids) {
			t.Errorf("IDs[%s] = %v, want %v", o, res.IDs[o], ids)
		}
	}
	if m := rd.message(t, waiting); m.Reason != "bad template" {
		t.Errorf("dropped message's reason = %q", m.Reason)
	}
	if n := len(rd.up.Messages()); n != 1 {
		t.Errorf("upstream got %d messages, want only the one delivered before the drop", n)
	}
}

// TestDropInFlight: a message being sent when drop runs is cut off
// before its end-of-data dot and reported dropped (guarantee 3).
func TestDropInFlight(t *testing.T) {
	rd := startRelayd(t)
	gate := rd.up.StallDATA()
	t.Cleanup(gate.Release) // before the dispatcher stops, should the test fail
	id := rd.send(t, "shop", "caught in the act")
	mustRun(t, "--admin", rd.Socket, "flush", id)
	reached(t, gate)
	if st := rd.state(t, id); st != spool.Sending {
		t.Fatalf("message is %s, want sending", st)
	}

	res := result(t, "--admin", rd.Socket, "drop", id)
	if res.Counts["changed"] != 1 || res.Counts["in_flight"] != 0 {
		t.Errorf("drop of a message in flight: %+v", res.Counts)
	}
	// drop has returned: the outcome is recorded already, no polling.
	if st := rd.state(t, id); st != spool.Dropped {
		t.Errorf("message is %s once drop returned, want dropped", st)
	}
	gate.Release()
	rd.up.WaitIdle(t)
	if n := len(rd.up.Messages()); n != 0 {
		t.Errorf("the upstream received %d messages after the drop", n)
	}
}

// TestHoldInFlight: hold, like drop, stops a message being sent and
// answers with its outcome.
func TestHoldInFlight(t *testing.T) {
	rd := startRelayd(t)
	gate := rd.up.StallDATA()
	t.Cleanup(gate.Release)
	id := rd.send(t, "shop", "wait")
	mustRun(t, "--admin", rd.Socket, "flush", id)
	reached(t, gate)

	if res := result(t, "--admin", rd.Socket, "hold", id); res.Counts["changed"] != 1 || res.Counts["in_flight"] != 0 {
		t.Errorf("hold of a message in flight: %+v", res.Counts)
	}
	if st := rd.state(t, id); st != spool.Held {
		t.Errorf("message is %s once hold returned, want held", st)
	}
	gate.Release()
	mustRun(t, "--admin", rd.Socket, "release", id)
	rd.waitState(t, id, spool.Delivered)
	if n := len(rd.up.Messages()); n != 1 {
		t.Errorf("upstream has %d messages, want 1: the released one", n)
	}
}

// TestDropAfterDot: once the dot is sent only the upstream's reply says
// whether it took the message; drop waits for it and reports the truth.
func TestDropAfterDot(t *testing.T) {
	rd := startRelayd(t)
	gate := rd.up.StallEndOfData()
	t.Cleanup(gate.Release)
	id := rd.send(t, "shop", "too late")
	mustRun(t, "--admin", rd.Socket, "flush", id)
	reached(t, gate)

	type answer struct {
		out, errOut string
		code        int
	}
	done := make(chan answer, 1)
	go func() {
		out, errOut, code := relayctl(t, "--admin", rd.Socket, "drop", id, "-o", "json")
		done <- answer{out, errOut, code}
	}()
	// Let the upstream answer only once drop has asked for the message.
	eventually(t, "the drop to reach the message", func() bool { return rd.message(t, id).Intent != nil })
	select {
	case a := <-done:
		t.Fatalf("drop answered before the upstream did: %+v", a)
	default:
	}
	gate.Release()
	var a answer
	select {
	case a = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("drop did not answer 10s after the upstream did")
	}
	var res admin.ActionResult
	if err := json.Unmarshal([]byte(a.out), &res); a.code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", a.code, err, a.out, a.errOut)
	}
	if res.Counts["delivered"] != 1 || res.Counts["changed"] != 0 {
		t.Errorf("drop of a message the upstream took: %+v; want it reported delivered", res.Counts)
	}
	if st := rd.state(t, id); st != spool.Delivered {
		t.Errorf("message is %s, want delivered", st)
	}
}

// reached waits for a session to arrive at gate.
func reached(t *testing.T, gate *smtptest.Gate) {
	t.Helper()
	select {
	case <-gate.Reached():
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery reached the upstream's gate in 10s")
	}
}

// TestSelectorsPickExactly: a change to one credential's messages leaves
// the others alone.
func TestSelectorsPickExactly(t *testing.T) {
	rd := startRelayd(t)
	shop := []string{rd.send(t, "shop", "s1"), rd.send(t, "shop", "s2")}
	bill := []string{rd.send(t, "billing", "b1"), rd.send(t, "billing", "b2")}
	toBob := rd.send(t, "billing", "b3", "bob@example.net")

	res := result(t, "--admin", rd.Socket, "flush", "--credential", "shop")
	if res.Counts["changed"] != 2 {
		t.Errorf("flush --credential shop: %+v", res.Counts)
	}
	rd.up.Wait(t, 2)
	rd.waitState(t, shop[0], spool.Delivered)
	rd.waitState(t, shop[1], spool.Delivered)
	rd.states(t, map[string]spool.State{bill[0]: spool.Waiting, bill[1]: spool.Waiting, toBob: spool.Waiting})

	res = result(t, "--admin", rd.Socket, "drop", "--credential", "billing", "--to", "someone@example.org")
	if res.Counts["changed"] != 2 || !slices.Equal(sorted(res.IDs["changed"]), sorted(bill)) {
		t.Errorf("drop --credential billing --to someone@: %+v", res)
	}
	rd.states(t, map[string]spool.State{bill[0]: spool.Dropped, bill[1]: spool.Dropped, toBob: spool.Waiting,
		shop[0]: spool.Delivered, shop[1]: spool.Delivered})
	if n := len(rd.up.Messages()); n != 2 {
		t.Errorf("upstream has %d messages, want shop's 2", n)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestDryRun: a dry run changes nothing, is not audited, and reports
// what the real run then does.
func TestDryRun(t *testing.T) {
	for _, action := range []string{"flush", "drop", "hold", "release"} {
		t.Run(action, func(t *testing.T) {
			rd := startRelayd(t)
			ids := []string{rd.send(t, "shop", "1"), rd.send(t, "shop", "2"), rd.send(t, "billing", "3")}
			held := rd.send(t, "shop", "held")
			mustRun(t, "--admin", rd.Socket, "hold", held)
			before := map[string]spool.State{ids[0]: spool.Waiting, ids[1]: spool.Waiting, ids[2]: spool.Waiting, held: spool.Held}
			audit := mustRun(t, "--admin", rd.Socket, "audit", "ls")

			args := []string{"--admin", rd.Socket, action, "--credential", "shop", "--reason", "test"}
			dry := result(t, append(args, "--dry-run")...)
			if !dry.DryRun || dry.Counts["changed"] == 0 {
				t.Errorf("dry run: %+v", dry)
			}
			rd.states(t, before)
			if got := mustRun(t, "--admin", rd.Socket, "audit", "ls"); got != audit {
				t.Errorf("a dry run was audited:\n%s", got)
			}
			out := mustRun(t, append(args, "--dry-run")...)
			if !strings.HasPrefix(out, "Dry run: nothing was changed.") {
				t.Errorf("dry-run table:\n%s", out)
			}

			real := result(t, args...)
			if real.DryRun || !mapsEqual(real.Counts, dry.Counts) || !idsEqual(real.IDs, dry.IDs) {
				t.Errorf("real run %+v differs from dry run %+v", real, dry)
			}
			if rd.state(t, ids[2]) != spool.Waiting {
				t.Error("billing's message changed")
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func idsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(sorted(v), sorted(b[k])) {
			return false
		}
	}
	return true
}

// TestEmptySelector: a change that names nothing is a usage error, and
// relayd is not even asked; --all selects everything.
func TestEmptySelector(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "keep")
	for _, action := range []string{"flush", "drop", "hold", "release"} {
		for _, extra := range [][]string{nil, {"--dry-run"}, {"--reason", "oops"}} {
			args := append([]string{"--admin", rd.Socket, action}, extra...)
			out, errOut, code := relayctl(t, args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "no messages selected") || !strings.Contains(errOut, "--all") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
	if st := rd.state(t, id); st != spool.Waiting {
		t.Errorf("message is %s, want waiting", st)
	}
	if strings.Contains(rd.Log.String(), "method=POST") {
		t.Errorf("relayd was asked to change something:\n%s", rd.Log)
	}
	res := result(t, "--admin", rd.Socket, "hold", "--all")
	if res.Counts["changed"] != 1 || rd.state(t, id) != spool.Held {
		t.Errorf("hold --all: %+v", res)
	}
}

func TestHoldRelease(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "wait for me")
	other := rd.send(t, "shop", "not me")

	res := result(t, "--admin", rd.Socket, "hold", id, "--reason", "customer asked")
	if res.Counts["changed"] != 1 || rd.state(t, id) != spool.Held {
		t.Fatalf("hold: %+v", res)
	}
	// Held is held: the clock does not release it.
	rd.Clock.Advance(time.Minute)
	rd.waitState(t, other, spool.Delivered)
	if st := rd.state(t, id); st != spool.Held {
		t.Fatalf("held message is %s after its hold window", st)
	}
	if res := result(t, "--admin", rd.Socket, "hold", id); res.Counts["unchanged"] != 1 {
		t.Errorf("second hold: %+v", res.Counts)
	}
	// Released after its hold window, it is due at once.
	if res := result(t, "--admin", rd.Socket, "release", id, other); res.Counts["changed"] != 1 || res.Counts["delivered"] != 1 {
		t.Errorf("release: %+v", res.Counts)
	}
	rd.waitState(t, id, spool.Delivered)
	if n := len(rd.up.Messages()); n != 2 {
		t.Errorf("upstream has %d messages, want 2", n)
	}
}

func TestActionRefusals(t *testing.T) {
	rd := startRelayd(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drop", "not-an-id"}, 2, `Error: invalid message ID "not-an-id"`},
		{[]string{"hold", "--state", "lost"}, 2, `unknown state "lost"`},
		{[]string{"flush", "--from", "nobody"}, 2, `want an address (name@example.com) or a domain (@example.com), got "nobody"`},
		{[]string{"release", "--older-than", "soon"}, 2, `want a duration`},
		{[]string{"drop", "--credential", "Shop!"}, 2, `Error: invalid credential name "Shop!"`},
		{[]string{"hold", "--all", "--reason", "two\nlines"}, 2, `Error: reason: no control characters`},
	}
	for _, tt := range tests {
		out, errOut, code := relayctl(t, append([]string{"--admin", rd.Socket}, tt.args...)...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

// TestUnknownIDFails: every command that takes IDs exits 1 for one that
// names no message, says which on stderr, and still prints its answer
// (with -o json too, for scripts).
func TestUnknownIDFails(t *testing.T) {
	rd := startRelayd(t)
	known := rd.send(t, "shop", "here")
	const unknown = "0000000000001"
	for _, verb := range []string{"drop", "hold", "flush", "release"} {
		for _, format := range []string{"table", "json"} {
			out, errOut, code := relayctl(t, "--admin", rd.Socket, "-o", format, verb, unknown, known, "--dry-run")
			if code != 1 || errOut != "Error: "+verb+": no such message: "+unknown+"\n" {
				t.Errorf("%s -o %s of an unknown ID: exit %d, stderr %q", verb, format, code, errOut)
			}
			if !strings.Contains(out, "not") {
				t.Errorf("%s -o %s printed no answer:\n%s", verb, format, out)
			}
		}
		if _, errOut, code := relayctl(t, "--admin", rd.Socket, verb, known, "--dry-run"); code != 0 {
			t.Errorf("%s of a known ID: exit %d, %s", verb, code, errOut)
		}
	}
}
