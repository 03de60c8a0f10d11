package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin/server"
)

// A reload reads the tokens by the start's precedence: the command line
// and the environment cannot change under a running process; the config
// file can, and is read again.
func TestTokensAgain(t *testing.T) {
	const started, inFile = "started-secret-0123456789", "in-file-secret-0123456789"
	startTokens := tokenList{tokens: []server.Token{{Name: "start", Role: server.RoleOperator, Secret: started}}, set: true}
	conf := filepath.Join(t.TempDir(), "relayd.yaml")
	if err := os.WriteFile(conf, []byte("hold: 5s\nadmin-tokens: [file:support:"+inFile+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	withEnv := func(k string) (string, bool) { return "start:operator:" + started, k == "RELAY_ADMIN_TOKENS" }
	for _, tc := range []struct {
		name       string
		cfg        config
		env        func(string) (string, bool)
		wantSecret string // of the one token; "" = none
		wantFrom   string
	}{
		{"command line", config{ConfigFile: conf, AdminTokens: startTokens, TokensOnCommandLine: true}, noEnv, started, "the command line"},
		{"environment", config{ConfigFile: conf, AdminTokens: startTokens}, withEnv, started, "RELAY_ADMIN_TOKENS"},
		{"config file", config{ConfigFile: conf, AdminTokens: startTokens}, noEnv, inFile, "config file " + conf},
		{"nowhere", config{}, noEnv, "", "no source"},
	} {
		ts, from, err := tc.cfg.tokensAgain(tc.env)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := ""
		if len(ts) == 1 {
			got = ts[0].Secret
		}
		if got != tc.wantSecret || len(ts) > 1 || !strings.HasPrefix(from, tc.wantFrom) {
			t.Errorf("%s: %d tokens (secret %q) from %q; want %q from %q", tc.name, len(ts), got, from, tc.wantSecret, tc.wantFrom)
		}
	}

	// A file that no longer parses, or names an unknown key, fails the reload.
	for _, bad := range []string{"admin-tokens: [a:operator:" + inFile + "\n", "hodl: 5s\n", "admin-tokens: [a:root:" + inFile + "]\n"} {
		if err := os.WriteFile(conf, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := (config{ConfigFile: conf}).tokensAgain(noEnv); err == nil {
			t.Errorf("config file %q: reload read it without an error", bad)
		} else if strings.Contains(err.Error(), inFile) {
			t.Errorf("config file %q: the error shows the secret: %v", bad, err)
		}
	}
}
