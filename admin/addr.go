package admin

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// DefaultAddr is where relayctl looks for relayd when --admin is not
// given: $RELAY_ADMIN if set, else the socket relayd makes by default,
// unix:$RELAY_DATA/admin.sock with RELAY_DATA defaulting to ./relay-data
// (relayd's own --data default).
func DefaultAddr() string {
	if a := os.Getenv("RELAY_ADMIN"); a != "" {
		return a
	}
	data := os.Getenv("RELAY_DATA")
	if data == "" {
		data = "./relay-data"
	}
	return "unix:" + filepath.Join(data, "admin.sock")
}

// endpoint is a parsed admin address.
type endpoint struct {
	network string // "unix" or "tcp"
	address string // socket path or host:port
}

// parseAddr accepts the forms of relayd's --admin-listen, "unix:PATH" and
// "host:port", and also "http://host:port" as people paste URLs.
func parseAddr(addr string) (endpoint, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return endpoint{}, errors.New("admin address unix: needs a socket path")
		}
		return endpoint{"unix", path}, nil
	}
	if strings.HasPrefix(addr, "https://") {
		// relayd serves plain HTTP; say so rather than fail a TLS handshake.
		return endpoint{}, fmt.Errorf("admin address %q: relayd's admin API does not speak https; use host:port", addr)
	}
	hostport := strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/")
	if strings.Contains(hostport, "/") {
		return endpoint{}, fmt.Errorf("admin address %q: want unix:PATH, host:port or http://host:port", addr)
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return endpoint{}, fmt.Errorf("admin address %q: want unix:PATH, host:port or http://host:port", addr)
	}
	return endpoint{"tcp", hostport}, nil
}

func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix:" + e.address
	}
	return e.address
}
