package main

import (
	"strings"
	"testing"
)

// TestBrakeIncident is the brake from the operator's side: a loop trips
// it, brake ls and status show it, brake release lets the mail go, and
// the mistakes an operator woken at night makes get clear answers.
func TestBrakeIncident(t *testing.T) {
	rd := startRelayd(t)
	for range 6 {
		rd.send(t, "shop", "Your invoice", "victim@example.org")
	}
	golden(t, "brake-ls.golden", mustRun(t, "--admin", rd.Socket, "brake", "ls"))
	if out := mustRun(t, "--admin", rd.Socket, "status"); !strings.Contains(out, "1 credential BRAKED") || !strings.Contains(out, "BRAKED") {
		t.Errorf("status does not show the brake:\n%s", out)
	}
	golden(t, "brake-release.golden", mustRun(t, "--admin", rd.Socket, "brake", "release", "shop", "--reason", "template fixed"))
	if out := mustRun(t, "--admin", rd.Socket, "brake", "ls"); out != "No credential is braked.\n" {
		t.Errorf("brake ls after the release:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"brake", "release", "shop"}, 1, `credential "shop" is not braked`},
		{[]string{"brake", "release", "nobody"}, 1, `no credential "nobody"`},
		{[]string{"brake", "release"}, 2, "NAME"},
		{[]string{"brake", "ls", "extra"}, 2, ""},
		{[]string{"credential", "set", "shop", "--brake-rate", "-1"}, 2, "want a whole number"},
		{[]string{"credential", "set", "shop", "--brake-duplicates", "lots"}, 2, "want a whole number"},
		{[]string{"credential", "set", "shop", "--brake-rate", "99999999"}, 2, "brake_rate \"99999999\": want a whole number from 0 (off) to 1000000"},
	} {
		_, errOut, code := relayctl(t, append([]string{"--admin", rd.Socket}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("relayctl %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
	out := mustRun(t, "--admin", rd.Socket, "credential", "set", "shop", "--brake-rate", "0", "--brake-duplicates", "default")
	if !strings.Contains(out, "brake rate:        off") || !strings.Contains(out, "brake duplicates:  relayd's --brake-duplicates") {
		t.Errorf("credential set:\n%s", out)
	}
}
