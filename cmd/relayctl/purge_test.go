package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// purgeSpool makes two pending shop messages, one pending billing
// message and one delivered shop message.
func purgeSpool(t *testing.T, rd *relayd) (shop []string, bill, delivered string) {
	t.Helper()
	shop = []string{rd.send(t, "shop", "1"), rd.send(t, "shop", "2")}
	bill = rd.send(t, "billing", "3")
	delivered = rd.send(t, "shop", "4")
	mustRun(t, "--admin", rd.Socket, "flush", delivered)
	rd.waitState(t, delivered, spool.Delivered)
	return shop, bill, delivered
}

// TestPurgeAsks: purge shows the count and drops only after a yes.
func TestPurgeAsks(t *testing.T) {
	tests := []struct {
		name, stdin string
		dropped     bool
	}{
		{"no", "n\n", false},
		{"enter", "\n", false},
		{"no input", "", false},
		{"something else", "sure\n", false},
		{"y", "y\n", true},
		{"YES", "YES\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := startRelayd(t)
			shop, bill, delivered := purgeSpool(t, rd)
			out, errOut, code := relayctlIn(t, tt.stdin, "--admin", rd.Socket, "purge")
			question := "This will drop 3 pending messages (selector all). Continue? [y/N] "
			if !strings.HasPrefix(errOut, question) {
				t.Errorf("stderr %q, want the question %q", errOut, question)
			}
			want := spool.Waiting
			if tt.dropped {
				want = spool.Dropped
				if code != 0 || !regexp.MustCompile(`^dropped +3\n`).MatchString(out) {
					t.Errorf("exit %d, stdout:\n%s", code, out)
				}
			} else if code != 1 || out != "" || !strings.HasSuffix(errOut, "Error: purge aborted: nothing was dropped\n") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and an abort", code, out, errOut)
			}
			rd.states(t, map[string]spool.State{shop[0]: want, shop[1]: want, bill: want, delivered: spool.Delivered})
		})
	}
}

func TestPurgeYes(t *testing.T) {
	rd := startRelayd(t)
	shop, bill, delivered := purgeSpool(t, rd)
	out, errOut, code := relayctlIn(t, "", "--admin", rd.Socket, "purge", "--credential", "shop", "--yes", "--reason", "flood", "-o", "json")
	var res admin.ActionResult
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || errOut != "" {
		t.Fatalf("exit %d, %v, stderr %q", code, err, errOut)
	}
	if res.Action != "purge" || res.Counts["changed"] != 2 || res.Counts["delivered"] != 0 {
		t.Errorf("purge --credential shop: %+v", res)
	}
	rd.states(t, map[string]spool.State{shop[0]: spool.Dropped, shop[1]: spool.Dropped, bill: spool.Waiting, delivered: spool.Delivered})
	audit := mustRun(t, "--admin", rd.Socket, "audit", "ls")
	if !regexp.MustCompile(`(?m) purge +credential=shop +dropped 2 +flood$`).MatchString(audit) {
		t.Errorf("audit log:\n%s", audit)
	}
}

func TestPurgeDryRun(t *testing.T) {
	rd := startRelayd(t)
	shop, bill, _ := purgeSpool(t, rd)
	out := mustRun(t, "--admin", rd.Socket, "purge", "--dry-run")
	if !regexp.MustCompile(`^Dry run: nothing was changed. Had it run:\ndropped +3\n`).MatchString(out) {
		t.Errorf("purge --dry-run:\n%s", out)
	}
	rd.states(t, map[string]spool.State{shop[0]: spool.Waiting, shop[1]: spool.Waiting, bill: spool.Waiting})
}

func TestPurgeNothing(t *testing.T) {
	rd := startRelayd(t)
	out, errOut, code := relayctlIn(t, "", "--admin", rd.Socket, "purge", "--credential", "billing")
	if code != 0 || errOut != "" || out != "Nothing to purge: no pending message matches (selector credential=billing).\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
