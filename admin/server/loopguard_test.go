package server

import (
	"net"
	"testing"
)

// TestSameHost: which URL hosts reach a listener, for the webhooks' loop
// guard. A listener on every address is reached by loopback and by the
// machine's own addresses; names other than localhost are not resolved.
func TestSameHost(t *testing.T) {
	own := ownAddress(t)
	tests := []struct {
		host, listen string
		want         bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"localhost", "127.0.0.1", true},
		{"LOCALHOST", "::1", true},
		{"::1", "::1", true},
		{"127.0.0.2", "127.0.0.1", false},
		{"10.9.8.7", "127.0.0.1", false},
		{"localhost", "10.9.8.7", false},
		{"127.0.0.1", "0.0.0.0", true},
		{"::1", "::", true},
		{"localhost", "::", true},
		{own, "0.0.0.0", true},
		{"192.0.2.1", "0.0.0.0", false}, // TEST-NET-1: no machine's own
		{"example.com", "0.0.0.0", false},
	}
	for _, tt := range tests {
		if got := sameHost(tt.host, net.ParseIP(tt.listen)); got != tt.want {
			t.Errorf("sameHost(%q, %s) = %v, want %v", tt.host, tt.listen, got, tt.want)
		}
	}
}

// ownAddress returns one of this machine's addresses, loopback if it has
// no other.
func ownAddress(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}
