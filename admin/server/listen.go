package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Listen parses an --admin-listen value. "unix:PATH" makes a unix socket
// with mode 0600, creating its directory (mode 0700) if missing and
// replacing a stale socket file, but never one another relayd answers on.
// Anything else is a TCP address. tcp reports which it made: Serve needs
// to know, since TCP requires tokens.
func Listen(spec string) (l net.Listener, tcp bool, err error) {
	path, ok := strings.CutPrefix(spec, "unix:")
	if !ok {
		l, err := net.Listen("tcp", spec)
		if err != nil {
			return nil, false, err
		}
		return l, true, nil
	}
	l, err = listenUnix(path)
	return l, false, err
}

func listenUnix(path string) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("unix: needs a socket path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The socket is born with the umask's mode; until this Chmod, a peer
	// of another uid could connect, and identifyUnix refuses it.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// removeStale removes a socket file left by a relayd that died without
// cleaning up. It refuses to touch anything else: a file that is not a
// socket, or a socket someone answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another relayd is already answering there", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether it is in use: %w", path, err)
	}
	return os.Remove(path)
}
