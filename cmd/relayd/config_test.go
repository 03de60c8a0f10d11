package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func parseConfig(t *testing.T, args []string, env map[string]string, file string) (config, error) {
	t.Helper()
	var c config
	fs := pflag.NewFlagSet("relayd", pflag.ContinueOnError)
	c.flags(fs)
	if file != "" {
		path := filepath.Join(t.TempDir(), "relayd.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := merge(fs, lookup); err != nil {
		return c, err
	}
	return c, c.resolve()
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := "hold: 3s\nmax-recipients: 7\ntrusted-networks: [10.0.0.0/8, 192.168.1.1]\nsmtp-listen: 127.0.0.1:2600\n"
	c, err := parseConfig(t, []string{"--hold", "1s"},
		map[string]string{"RELAY_HOLD": "2s", "RELAY_MAX_RECIPIENTS": "9"}, file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hold != time.Second {
		t.Errorf("hold %v: the flag must win", c.Hold)
	}
	if c.MaxRecipients != 9 {
		t.Errorf("max-recipients %d: the environment must beat the file", c.MaxRecipients)
	}
	if c.SMTPListen != "127.0.0.1:2600" {
		t.Errorf("smtp-listen %q: the file must beat the default", c.SMTPListen)
	}
	if c.Data != "./relay-data" || c.AdminListen != "unix:relay-data/admin.sock" {
		t.Errorf("defaults: data %q admin %q", c.Data, c.AdminListen)
	}
	if !strings.HasPrefix(c.Upstream, "file:///") || !strings.HasSuffix(c.Upstream, "/relay-data/outbox") {
		t.Errorf("default upstream %q", c.Upstream)
	}
	nets, _ := c.trustedNetworks()
	if len(nets) != 2 || nets[1].String() != "192.168.1.1/32" {
		t.Errorf("trusted networks from a YAML list: %v", nets)
	}
}

func TestDefaultsMatchTheContract(t *testing.T) {
	c, err := parseConfig(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	size, _ := parseSize(c.MaxMessageSize)
	if c.SMTPListen != "127.0.0.1:2525" || c.Hold != 30*time.Second || c.SMTPSListen != "" ||
		len(c.TrustedNetworks) != 0 || size != 25<<20 || c.Bounces != "on" ||
		c.BrakeDuplicates != 5 || c.BrakeRate != 600 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestBadSettingsAreClearErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		{env: map[string]string{"RELAY_HOLD": "soon"}, want: "RELAY_HOLD"},
		{file: "hold: soon\n", want: "config file key hold"},
		{file: "hodl: 3s\n", want: "unknown keys: hodl"},
		{args: []string{"--trusted-networks", "example.com"}, want: "not an address or CIDR"},
		{args: []string{"--max-message-size", "huge"}, want: "not a size"},
		{args: []string{"--tls-cert", "a.pem"}, want: "go together"},
		{args: []string{"--smtps-listen", ":465"}, want: "needs --tls-cert"},
		{args: []string{"--hold", "-1s"}, want: "negative"},
		{args: []string{"--http-listen", ":8026"}, want: "API keys would travel in clear"},
		{args: []string{"--http-listen", "192.0.2.1:8026"}, want: "API keys would travel in clear"},
		{args: []string{"--brake-duplicates", "-1"}, want: "--brake-duplicates -1: want 0 (off) to 10000"},
		{args: []string{"--brake-rate", "5000000"}, want: "--brake-rate 5000000: want 0 (off) to 1000000"},
		{env: map[string]string{"RELAY_BRAKE_RATE": "many"}, want: "RELAY_BRAKE_RATE"},
		{args: []string{"--bounces", "maybe"}, want: `--bounces: want on or off, got "maybe"`},
		{env: map[string]string{"RELAY_BOUNCES": "yes"}, want: `--bounces: want on or off, got "yes"`},
	} {
		_, err := parseConfig(t, tc.args, tc.env, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v %q: error %v, want it to mention %q", tc.args, tc.env, tc.file, err, tc.want)
		}
	}
}

// A loopback or TLS-protected Mail Send API, or one the operator opened on
// purpose, starts.
func TestHTTPListenAllowed(t *testing.T) {
	for _, args := range [][]string{
		{"--http-listen", "127.0.0.1:8026"},
		{"--http-listen", "[::1]:8026"},
		{"--http-listen", "localhost:8026"},
		{"--http-listen", ":8026", "--insecure-auth"},
	} {
		if _, err := parseConfig(t, args, nil, ""); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"25MiB": 25 << 20, "10MB": 10e6, "512 KiB": 512 << 10, "1048576": 1 << 20, "1B": 1} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-5MiB", "MiB", "1.5MiB", "99999999999GiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
}

func TestHelpAndUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"--data", "--smtp-listen", "--smtps-listen", "--http-listen", "--tls-cert", "--tls-key", "--admin-listen",
		"--hold", "--upstream", "--trusted-networks", "--max-message-size", "--config", "RELAY_HOLD", "--brake-duplicates", "--brake-rate", "--spool", "--node-name", "--node-lease"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("--help does not mention %s", flag)
		}
	}
	for _, args := range [][]string{{"--no-such-flag"}, {"--hold", "soon"}, {"extra-arg"}} {
		errb.Reset()
		if code := execute(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestWebhookMaxAge(t *testing.T) {
	c, err := parseConfig(t, nil, map[string]string{"RELAY_WEBHOOK_MAX_AGE": "24h"}, "")
	if err != nil || c.WebhookMaxAge != 24*time.Hour {
		t.Fatalf("from the environment: %v %v", c.WebhookMaxAge, err)
	}
	if c, _ := parseConfig(t, nil, nil, ""); c.WebhookMaxAge != 72*time.Hour {
		t.Errorf("default %v, want 72h", c.WebhookMaxAge)
	}
	if _, err := parseConfig(t, []string{"--webhook-max-age", "0s"}, nil, ""); err == nil || !strings.Contains(err.Error(), "--webhook-max-age") {
		t.Errorf("--webhook-max-age 0s: %v", err)
	}
}
