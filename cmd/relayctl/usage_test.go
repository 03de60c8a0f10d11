package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

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
		{[]string{"credential", "add", "a", "--hold", "soon"}, `want a duration such as 0s, 30s or 5m, or "default" for relayd's --hold, got "soon"`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--allow-sender", "nobody"}, `got "nobody"`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--allow-sender", "a@b.example,@"}, `got "@"`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--max-size", "big"}, `want a size such as 10MiB`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--max-size", "-1"}, `want a size such as 10MiB`, "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--rate-limit", "-1"}, "must not be negative", "relayctl credential add --help"},
		{[]string{"credential", "add", "a", "--rate-limit", "lots"}, `want a whole number, got "lots"`, "relayctl credential add --help"},
		{[]string{"credential", "show"}, "missing NAME", "relayctl credential show --help"},
		{[]string{"credential", "show", "a", "b"}, `unexpected argument "b"`, "relayctl credential show --help"},
		{[]string{"credential", "set", "a"}, "nothing to change", "relayctl credential set --help"},
		{[]string{"credential", "set"}, "missing NAME", "relayctl credential set --help"},
		{[]string{"credential", "set", "a", "--allow-sender", "x@example.com", "--allow-any-sender"}, "give one or the other", "relayctl credential set --help"},
		{[]string{"credential", "set", "a", "--hold", "-1s"}, "must not be negative", "relayctl credential set --help"},
		{[]string{"credential", "disable"}, "missing NAME", "relayctl credential disable --help"},
		{[]string{"credential", "disable", "a", "b"}, `unexpected argument "b"`, "relayctl credential disable --help"},
		{[]string{"credential", "enable", "a", "--release=maybe"}, "invalid argument", "relayctl credential enable --help"},
		{[]string{"credential", "rm"}, "missing NAME", "relayctl credential rm --help"},
		{[]string{"credential", "rm", "a", "b"}, `unexpected argument "b"`, "relayctl credential rm --help"},
		{[]string{"password-rotate"}, "missing NAME", "relayctl password-rotate --help"},
		{[]string{"password-rotate", "a", "--grace", "soon"}, `want a duration such as 0s, 30s or 5m, got "soon"`, "relayctl password-rotate --help"},
		{[]string{"password-rotate", "a", "--grace", "-1h"}, "must not be negative", "relayctl password-rotate --help"},
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
		{[]string{"batch", "pause"}, "missing ID", "relayctl batch pause --help"},
		{[]string{"batch", "cancel", "a b"}, `batch ID "a b"`, "relayctl batch cancel --help"},
		{[]string{"batch", "create", "a", "b"}, `unexpected argument "b"`, "relayctl batch create --help"},
		{[]string{"batch", "pause", "x", "--dry-run"}, "unknown flag: --dry-run", "relayctl batch pause --help"},
		{[]string{"drop", "--batch", "a/b"}, "want 1 to 100 letters", "relayctl drop --help"},
		{[]string{"queue", "ls", "--category", ""}, "printable text", "relayctl queue ls --help"},
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
			if sub.Name() == "help" || sub.Hidden {
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

// TestCredentialAddFlags checks flag parsing alone: the request add
// would send, with relayd never contacted.
func TestCredentialAddFlags(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		args []string
		want admin.AddCredentialRequest
	}{
		{[]string{"shop"}, admin.AddCredentialRequest{Name: "shop"}},
		{[]string{"shop", "--hold", "0s"}, admin.AddCredentialRequest{Name: "shop", Hold: str("0s")}},
		{[]string{"--hold=2m", "shop", "--description", "web shop"},
			admin.AddCredentialRequest{Name: "shop", Description: "web shop", Hold: str("2m0s")}},
		{[]string{"shop", "--hold", "default"}, admin.AddCredentialRequest{Name: "shop", Hold: str("default")}},
		{[]string{"shop", "--allow-sender", "a@example.com,@example.org", "--allow-sender", "b@example.net",
			"--max-size", "10MiB", "--rate-limit", "60"},
			admin.AddCredentialRequest{Name: "shop", AllowedSenders: []string{"a@example.com", "@example.org", "b@example.net"},
				MaxMessageSize: 10 << 20, RateLimit: 60}},
		{[]string{"shop", "--max-size", "1500", "--rate-limit", "0"}, admin.AddCredentialRequest{Name: "shop", MaxMessageSize: 1500}},
		{[]string{"shop", "--max-size", "2KB"}, admin.AddCredentialRequest{Name: "shop", MaxMessageSize: 2000}},
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
		if req := got.Settings.addRequest(got.Name); !reflect.DeepEqual(req, tt.want) {
			t.Errorf("%v: request = %s, want %s", tt.args, jsonText(req), jsonText(tt.want))
		}
		if got.out.format != formatJSON || got.client == nil {
			t.Errorf("%v: common options not filled: %+v", tt.args, got.common)
		}
	}
}

// TestCredentialSetFlags: set sends only the settings given, so that
// relayd keeps the others; the empty list of --allow-any-sender is sent
// as [], not left out.
func TestCredentialSetFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // the request's JSON
	}{
		{[]string{"shop", "--rate-limit", "0"}, `{"rate_limit":0}`},
		{[]string{"shop", "--hold", "default", "--reason", "done"}, `{"hold":"default","reason":"done"}`},
		{[]string{"shop", "--description", ""}, `{"description":""}`},
		{[]string{"shop", "--allow-any-sender"}, `{"allowed_senders":[]}`},
		{[]string{"shop", "--allow-sender", "@example.com", "--max-size", "0"}, `{"allowed_senders":["@example.com"],"max_message_size":0}`},
	}
	for _, tt := range tests {
		var got *credentialSetOptions
		cmd := newCredentialSetCommand(&globals{output: formatTable}, func(o *credentialSetOptions) error {
			got = o
			return nil
		})
		cmd.SetArgs(tt.args)
		if err := cmd.Execute(); err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if req := jsonText(got.Settings.updateRequest(got.Reason)); req != tt.want || got.Name != "shop" {
			t.Errorf("%v: request %s for %q, want %s", tt.args, req, got.Name, tt.want)
		}
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
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
