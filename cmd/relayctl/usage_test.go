package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

// TestUsageErrors: every mistake on the command line exits 2, says what
// was wrong, and points at the right --help, without contacting relayd.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
		help string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "relayctl"`, "relayctl --help"},
		{[]string{"stauts"}, "did you mean status?", "relayctl --help"},
		{[]string{"credential", "bogus"}, `unknown command "bogus" for "relayctl credential"`, "relayctl credential --help"},
		{[]string{"--bogus", "status"}, "unknown flag: --bogus", "relayctl --help"},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus", "relayctl status --help"},
		{[]string{"status", "now"}, `unexpected argument "now"`, "relayctl status --help"},
		{[]string{"-o", "yaml", "status"}, `want table or json, got "yaml"`, "relayctl status --help"},
		{[]string{"status", "-o", "yaml"}, `want table or json, got "yaml"`, "relayctl status --help"},
		{[]string{"credential", "add"}, "missing NAME", "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "b"}, `unexpected argument "b"`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--hold", "soon"}, `want a duration such as 0s, 30s or 5m, got "soon"`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--hold", "-5s"}, "must not be negative", "relayctl credential add --help"},
		{[]string{"credential", "ls", "x"}, `unexpected argument "x"`, "relayctl credential ls --help"},
		{[]string{"drop"}, "no messages selected", "relayctl drop --help"},
		{[]string{"flush", "--dry-run"}, "or --all for every message", "relayctl flush --help"},
		{[]string{"hold", "--state", "lost"}, `unknown state "lost"`, "relayctl hold --help"},
		{[]string{"release", "--state", "held,lost"}, `unknown state "lost"`, "relayctl release --help"},
		{[]string{"drop", "--to", "nobody"}, `got "nobody"`, "relayctl drop --help"},
		{[]string{"drop", "--older-than", "-1h"}, "must not be negative", "relayctl drop --help"},
		{[]string{"purge", "everything"}, `unexpected argument "everything"`, "relayctl purge --help"},
		{[]string{"queue", "bogus"}, `unknown command "bogus" for "relayctl queue"`, "relayctl queue --help"},
		{[]string{"queue", "ls", "--limit", "0"}, "--limit 0: want 1 to 1000", "relayctl queue ls --help"},
		{[]string{"queue", "ls", "x"}, `unexpected argument "x"`, "relayctl queue ls --help"},
		{[]string{"queue", "show"}, "missing ID", "relayctl queue show --help"},
		{[]string{"pause", "--for", "0s"}, "want a positive duration", "relayctl pause --help"},
		{[]string{"resume", "--for", "1m"}, "unknown flag: --for", "relayctl resume --help"},
		{[]string{"audit", "ls", "--limit", "1001"}, "--limit 1001: want 1 to 1000", "relayctl audit ls --help"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			// An address nobody answers on: a usage error must not get as far.
			args := append([]string{"--admin", "unix:/nonexistent/admin.sock"}, tt.args...)
			out, errOut, code := relayctl(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, errOut)
			}
			if !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, tt.want) ||
				!strings.Contains(errOut, "Run '"+tt.help+"' for usage.") {
				t.Errorf("stderr:\n%s\nwant %q and a pointer to %q", errOut, tt.want, tt.help)
			}
			if out != "" {
				t.Errorf("stdout:\n%s\nwant nothing", out)
			}
		})
	}
}

// TestHelp: every command answers --help with its long text and examples,
// and exits 0; a group named alone prints its help.
func TestHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
		path := strings.Fields(c.CommandPath())[1:]
		out, errOut, code := relayctl(t, append(path, "--help")...)
		if code != 0 || errOut != "" {
			t.Errorf("%s --help: exit %d, stderr %q", c.CommandPath(), code, errOut)
		}
		if c.Long == "" || c.Example == "" || !strings.Contains(out, c.Long) || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help lacks its long text or examples:\n%s", c.CommandPath(), out)
		}
	}
	walk(NewRootCommand())

	out, _, code := relayctl(t, "credential")
	if code != 0 || !strings.Contains(out, "Available Commands:") || !strings.Contains(out, "add") {
		t.Errorf("relayctl credential: exit %d, output:\n%s", code, out)
	}
}

// TestCredentialAddFlags checks flag parsing alone: the options the
// command hands to its behaviour, with relayd never contacted.
func TestCredentialAddFlags(t *testing.T) {
	d := func(s string) *time.Duration {
		v, _ := time.ParseDuration(s)
		return &v
	}
	tests := []struct {
		args []string
		want credentialAddOptions
	}{
		{[]string{"shop"}, credentialAddOptions{Name: "shop"}},
		{[]string{"shop", "--hold", "0s"}, credentialAddOptions{Name: "shop", Hold: d("0s")}},
		{[]string{"--hold=2m", "shop", "--description", "web shop"}, credentialAddOptions{Name: "shop", Description: "web shop", Hold: d("2m")}},
	}
	for _, tt := range tests {
		var got *credentialAddOptions
		cmd := newCredentialAddCommand(&globals{output: formatJSON}, func(o *credentialAddOptions) error {
			got = o
			return nil
		})
		cmd.SetArgs(tt.args)
		if err := cmd.Execute(); err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		holdOK := (got.Hold == nil) == (tt.want.Hold == nil) && (got.Hold == nil || *got.Hold == *tt.want.Hold)
		if got.Name != tt.want.Name || got.Description != tt.want.Description || !holdOK {
			t.Errorf("%v: options = %+v (hold %v), want %+v (hold %v)", tt.args, got, got.Hold, tt.want, tt.want.Hold)
		}
		if got.out.format != formatJSON || got.client == nil {
			t.Errorf("%v: common options not filled: %+v", tt.args, got.common)
		}
	}
}

func TestGlobalFlags(t *testing.T) {
	t.Setenv("RELAY_ADMIN", "")
	t.Setenv("RELAY_DATA", "/srv/relay")
	t.Setenv("RELAY_TOKEN", "from-the-environment")
	out, _, _ := relayctl(t, "--help")
	if !strings.Contains(out, `(default "unix:/srv/relay/admin.sock")`) {
		t.Errorf("--admin default does not follow RELAY_DATA:\n%s", out)
	}
	if strings.Contains(out, "from-the-environment") {
		t.Errorf("--help shows the token from RELAY_TOKEN:\n%s", out)
	}
}

// TestActionFlags checks selector and change flags alone: the options a
// change hands to its behaviour, and the selector relayd would get.
func TestActionFlags(t *testing.T) {
	var got *actionOptions
	cmd := newActionCommand(&globals{output: formatTable}, dropAction, func(o *actionOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"0c5v3k2s8f9ga", "--state", "waiting,HELD", "--state", "deferred,waiting", "--older-than", "90m",
		"--from", "@example.com", "--to", "ann@example.org", "--credential", "shop", "--dry-run", "--reason", "spam run", "0c5v3k2s8f9gb"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := admin.Selector{IDs: []string{"0c5v3k2s8f9ga", "0c5v3k2s8f9gb"}, Credential: "shop", From: "@example.com",
		To: "ann@example.org", States: []string{"waiting", "held", "deferred"}, OlderThan: "1h30m"}
	if sel := got.Selector.wire(got.IDs); !reflect.DeepEqual(sel, want) {
		t.Errorf("selector = %+v, want %+v", sel, want)
	}
	if !got.DryRun || got.Reason != "spam run" || got.Action.name != "drop" || got.Selector.NewerThan != nil {
		t.Errorf("options = %+v", got)
	}
}

func TestPurgeFlags(t *testing.T) {
	var got *purgeOptions
	cmd := newPurgeCommand(&globals{output: formatTable}, func(o *purgeOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"-y", "--all", "--newer-than", "5m"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if sel := got.Selector.wire(nil); !got.Yes || got.DryRun || sel.String() != "newer-than=5m" || !sel.All {
		t.Errorf("options = %+v, selector %+v", got, sel)
	}
}
