package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// sendInBatch submits a message whose headers name a batch and a
// category (the subject line carries the extra header fields).
func (rd *relayd) sendInBatch(t *testing.T, batch string) string {
	t.Helper()
	return rd.send(t, "shop", "promo\r\nX-SMTPAPI: {\"batch_id\": \""+batch+"\", \"category\": \"promo\", \"unique_args\": {\"campaign\": \"7\"}}")
}

func TestBatchCommands(t *testing.T) {
	rd := startRelayd(t)
	a := rd.sendInBatch(t, "spring")
	other := rd.sendInBatch(t, "summer")

	out := mustRun(t, "--admin", rd.Socket, "batch", "pause", "spring", "--reason", "wrong price")
	if out != "Paused batch spring; 1 message held.\n" {
		t.Errorf("pause: %q", out)
	}
	later := rd.sendInBatch(t, "spring")
	rd.states(t, map[string]spool.State{a: spool.Held, later: spool.Held, other: spool.Waiting})

	if st := mustRun(t, "--admin", rd.Socket, "status"); !regexp.MustCompile(`(?m)^spring +paused +2 +wrong price$`).MatchString(st) {
		t.Errorf("status does not show the paused batch:\n%s", st)
	}
	out = mustRun(t, "--admin", rd.Socket, "batch", "ls")
	if !strings.Contains(out, "spring") || !strings.Contains(out, "paused") || !strings.Contains(out, "wrong price") ||
		!strings.Contains(out, "summer") {
		t.Errorf("batch ls:\n%s", out)
	}
	var d admin.BatchDetails
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "batch", "show", "spring", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.Status != admin.BatchPaused || d.Messages != 2 || d.Counts["held"] != 2 {
		t.Errorf("batch show: %+v", d)
	}
	// --batch and --category select like any other criterion.
	var list admin.MessageList
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "queue", "ls", "--batch", "spring", "--category", "promo", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 2 {
		t.Errorf("queue ls --batch spring: %d messages", len(list.Messages))
	}
	show := mustRun(t, "--admin", rd.Socket, "queue", "show", a)
	for _, want := range []string{"batch:", "spring", "categories:", "promo", "unique arg:", "campaign=7"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}
	if res := result(t, "--admin", rd.Socket, "hold", "--batch", "summer"); res.Counts["changed"] != 1 {
		t.Errorf("hold --batch summer: %+v", res.Counts)
	}

	out = mustRun(t, "--admin", rd.Socket, "batch", "cancel", "spring", "--dry-run")
	if !strings.Contains(out, "Dry run") || !strings.Contains(out, "dropped") {
		t.Errorf("cancel --dry-run:\n%s", out)
	}
	rd.states(t, map[string]spool.State{a: spool.Held, later: spool.Held})
	out = mustRun(t, "--admin", rd.Socket, "batch", "cancel", "spring")
	if !strings.Contains(out, "Cancelled batch spring") {
		t.Errorf("cancel:\n%s", out)
	}
	last := rd.sendInBatch(t, "spring")
	rd.states(t, map[string]spool.State{a: spool.Dropped, later: spool.Dropped, last: spool.Dropped})

	if out := mustRun(t, "--admin", rd.Socket, "batch", "resume", "spring"); out != "Resumed batch spring; 0 messages released.\n" {
		t.Errorf("resume: %q", out)
	}
	if _, errOut, code := relayctl(t, "--admin", rd.Socket, "batch", "show", "nope"); code != 1 || !strings.Contains(errOut, "no batch nope") {
		t.Errorf("show of an unknown batch: exit %d, %s", code, errOut)
	}
}
