package main

import (
	"strings"
	"testing"
	"time"

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
