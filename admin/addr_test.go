package admin

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in, network, address, err string
	}{
		{in: "unix:/run/relay/admin.sock", network: "unix", address: "/run/relay/admin.sock"},
		{in: "unix:relay-data/admin.sock", network: "unix", address: "relay-data/admin.sock"},
		{in: "127.0.0.1:8025", network: "tcp", address: "127.0.0.1:8025"},
		{in: "http://[::1]:8025/", network: "tcp", address: "[::1]:8025"},
		{in: "relay.internal:8025", network: "tcp", address: "relay.internal:8025"},
		{in: "unix:", err: "needs a socket path"},
		{in: "https://relay:8025", err: "does not speak https"},
		{in: "http://relay:8025/v1", err: "want unix:PATH"},
		{in: "relay.internal", err: "want unix:PATH"},
		{in: "", err: "want unix:PATH"},
	}
	for _, tt := range tests {
		ep, err := parseAddr(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseAddr(%q) = %v, %v; want error %q", tt.in, ep, err, tt.err)
			}
			continue
		}
		if err != nil || ep.network != tt.network || ep.address != tt.address {
			t.Errorf("parseAddr(%q) = %v, %v; want %s %s", tt.in, ep, err, tt.network, tt.address)
		}
	}
}

func TestDefaultAddr(t *testing.T) {
	t.Setenv("RELAY_ADMIN", "")
	t.Setenv("RELAY_DATA", "")
	if got, want := DefaultAddr(), "unix:relay-data/admin.sock"; got != want {
		t.Errorf("DefaultAddr() = %q, want %q", got, want)
	}
	t.Setenv("RELAY_DATA", "/var/lib/relay")
	if got, want := DefaultAddr(), "unix:/var/lib/relay/admin.sock"; got != want {
		t.Errorf("with RELAY_DATA: %q, want %q", got, want)
	}
	t.Setenv("RELAY_ADMIN", "127.0.0.1:8025")
	if got, want := DefaultAddr(), "127.0.0.1:8025"; got != want {
		t.Errorf("with RELAY_ADMIN: %q, want %q", got, want)
	}
}
