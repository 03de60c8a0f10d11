package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// FuzzConfigFile feeds arbitrary bytes to relayd as its --config file.
// Loading must never panic or hang (YAML aliases included); it either
// fails with an error naming the file, or sets exactly the flags the file
// names, each to a value the flag accepted, and resolve then judges the
// whole configuration without panicking.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"hold: 3s\nmax-recipients: 7\ntrusted-networks: [10.0.0.0/8, 192.168.1.1]\nsmtp-listen: 127.0.0.1:2600\n",
		"data: /var/lib/relay\nsmtp-listen: 0.0.0.0:587\nhold: 2m\nupstream: smtps://u:p@smtp.example.com:465\n",
		"admin-tokens:\n  - ops:operator:0123456789abcdef0123\n  - help:support:abcdefabcdefabcdef\n",
		"max-message-size: 10MiB\ninsecure-auth: true\nmax-connections: 5\nmax-connections-per-ip: 2\n",
		"smtp-timeout: 1s\nmax-session-duration: -1s\n",
		"hold: [1, [2]]\n",
		"unknown-key: 1\nhold: 1s\n",
		"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\n",
		"- just\n- a list\n",
		"hold: {a: b}\n",
		"config: /etc/other.yaml\n",
		"trusted-networks: ['10.0.0.0/8,1.2.3.4']\n",
		"\ufeffhold: 1s\n",
		"hold: !!binary aGVsbG8=\n",
		"",
		"---\n...\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "relayd.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var c config
		fs := pflag.NewFlagSet("relayd", pflag.ContinueOnError)
		c.flags(fs)
		if err := fs.Parse([]string{"--config", path}); err != nil {
			t.Fatal(err)
		}
		noEnv := func(string) (string, bool) { return "", false }
		if err := merge(fs, noEnv); err != nil {
			if !strings.Contains(err.Error(), "config file") {
				t.Fatalf("error does not say it is the config file's: %v", err)
			}
			return
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("merge accepted a file yaml cannot read: %v", err)
		}
		fs.VisitAll(func(fl *pflag.Flag) {
			_, named := doc[fl.Name]
			if fl.Name != "config" && fl.Changed != named {
				t.Fatalf("flag %s changed=%v, but the file names it: %v", fl.Name, fl.Changed, named)
			}
		})
		c.resolve() // may refuse the values; must not panic
	})
}
