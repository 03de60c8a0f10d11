package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	addr := freePort(t)
	d := startRelayd(t, t.TempDir(), "--hold", "1h", "--admin-listen", "unix:"+shortSock(t), "--metrics-listen", addr)
	if _, err := submit(d.smtp, d.password, "counted"); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(d.smtp, "wrong-password", "refused"); err == nil {
		t.Fatal("wrong password accepted")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"relay_smtp_accepted_total 1",
		`relay_messages{state="waiting"} 1`,
		`relay_messages{state="delivered"} 0`,
		`relay_auth_failures_total{reason="credentials"} 1`,
		"relay_pauses 0",
		"relay_events_written_total 1", // the message.accepted
		`relay_brake_trips_total{trigger="loop"} 0`,
		`relay_brake_trips_total{trigger="rate"} 0`,
		"relay_brake_braked_credentials 0",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(body), d.password) {
		t.Error("/metrics contains the password")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatal(err)
	}
}
