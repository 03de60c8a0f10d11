package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

func TestPauseResume(t *testing.T) {
	rd := startRelayd(t)
	before := rd.send(t, "shop", "before the pause")

	out := mustRun(t, "--admin", rd.Socket, "pause", "--credential", "shop", "--reason", "bad template")
	if out != "Paused delivery for credential shop until resumed; 1 message held.\n" {
		t.Errorf("pause: %q", out)
	}
	// Accepting goes on; the paused credential's new mail arrives held.
	during := rd.send(t, "shop", "during the pause")
	other := rd.send(t, "billing", "not paused")
	rd.states(t, map[string]spool.State{before: spool.Held, during: spool.Held, other: spool.Waiting})
	if m := rd.message(t, during); m.HeldBy != spool.HeldByPause {
		t.Errorf("new message held by %q, want the pause", m.HeldBy)
	}

	// What a pause holds, only resume lets go.
	for _, action := range []string{"flush", "release"} {
		if res := result(t, "--admin", rd.Socket, action, during); res.Counts["paused"] != 1 {
			t.Errorf("%s of a paused message: %+v", action, res.Counts)
		}
	}
	if out := mustRun(t, "--admin", rd.Socket, "flush", during); !regexp.MustCompile(`(?m)^paused \(resume it\) +1$`).MatchString(out) {
		t.Errorf("flush of a paused message:\n%s", out)
	}

	mustRun(t, "--admin", rd.Socket, "pause", "--for", "1h", "--reason", "upstream maintenance")
	golden(t, "status-paused.golden", mustRun(t, "--admin", rd.Socket, "status"))
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Pauses) != 2 || st.Pauses[0].Credential != "" || st.Pauses[0].Until == nil || st.Pauses[1].Credential != "shop" ||
		st.Pauses[1].Until != nil || !strings.HasPrefix(st.Pauses[1].Actor, "uid:") {
		t.Errorf("pauses = %+v", st.Pauses)
	}

	if out := mustRun(t, "--admin", rd.Socket, "resume"); out != "Resumed delivery for every credential; 1 message released.\n" {
		t.Errorf("resume: %q", out)
	}
	// shop's own pause still holds its messages.
	rd.states(t, map[string]spool.State{before: spool.Held, during: spool.Held, other: spool.Waiting})
	var res admin.ResumeResult
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "resume", "--credential", "shop", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Credential != "shop" || res.Released != 2 {
		t.Errorf("resume --credential shop: %+v", res)
	}
	rd.states(t, map[string]spool.State{before: spool.Waiting, during: spool.Waiting, other: spool.Waiting})
	if out := mustRun(t, "--admin", rd.Socket, "status"); !strings.Contains(out, "delivery:     running\n") || strings.Contains(out, "PAUSED") {
		t.Errorf("status after resuming:\n%s", out)
	}
}

// TestPauseFor: a pause with --for ends by itself when relayd's clock
// passes it; the dispatcher resumes it as "system".
func TestPauseFor(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "after the pause")
	mustRun(t, "--admin", rd.Socket, "pause", "--for", "1m")
	if st := rd.state(t, id); st != spool.Held {
		t.Fatalf("message is %s, want held by the pause", st)
	}
	rd.Clock.Advance(59 * time.Second) // past the hold window, not the pause
	if st := rd.state(t, id); st != spool.Held {
		t.Fatalf("message is %s before the pause ended", st)
	}

	rd.Clock.Advance(2 * time.Second)
	rd.waitState(t, id, spool.Delivered)
	if out := mustRun(t, "--admin", rd.Socket, "status"); !strings.Contains(out, "delivery:     running\n") {
		t.Errorf("status after the pause ended:\n%s", out)
	}
	var d admin.MessageDetails
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "queue", "show", id, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	resumed := false
	for _, e := range d.History {
		resumed = resumed || (e.Actor == "system" && e.State != "held")
	}
	if !resumed {
		t.Errorf("history shows no release by the system: %+v", d.History)
	}
}

func TestPauseRefusals(t *testing.T) {
	rd := startRelayd(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pause", "--credential", "nobody"}, 1, `Error: no credential "nobody" to pause`},
		{[]string{"resume"}, 1, "Error: no such pause: delivery is not paused for every credential"},
		{[]string{"resume", "--credential", "shop"}, 1, "Error: no such pause: credential shop is not paused"},
		{[]string{"pause", "--for", "0s"}, 2, "--for 0s: want a positive duration"},
		{[]string{"pause", "--for", "-5m"}, 2, "must not be negative"},
		{[]string{"pause", "now"}, 2, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		out, errOut, code := relayctl(t, append([]string{"--admin", rd.Socket}, tt.args...)...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
	if out := mustRun(t, "--admin", rd.Socket, "status"); !strings.Contains(out, "delivery:     running\n") {
		t.Errorf("a refused pause paused:\n%s", out)
	}
}
