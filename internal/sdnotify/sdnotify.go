// Package sdnotify tells systemd how a service is doing, by the notify
// protocol of sd_notify(3) written out: each message is one datagram of
// "KEY=VALUE" lines sent to the unix socket named by $NOTIFY_SOCKET. It
// depends on no systemd library, and does nothing when the service was
// not started by systemd with Type=notify.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Messages relayd sends; see sd_notify(3).
const (
	Ready    = "READY=1"    // startup is finished: the service serves
	Stopping = "STOPPING=1" // shutdown has begun
	Watchdog = "WATCHDOG=1" // still alive: resets the unit's WatchdogSec timer
)

// Reloading is the message that starts a reload, at monotonic, the time
// of CLOCK_MONOTONIC (see Monotonic): sd_notify(3) asks for both lines,
// so that systemd can tell this reload from an earlier one, and for
// Ready once the reload is over, whether or not it succeeded.
func Reloading(monotonic time.Duration) string {
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonic.Microseconds())
}

// Status is a STATUS= line: free text that systemctl status shows. A
// newline would start another message, so it becomes a space.
func Status(text string) string {
	return "STATUS=" + strings.ReplaceAll(text, "\n", " ")
}

// Notifier sends messages to one notify socket. The zero Notifier, that of
// a service systemd does not watch, sends nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a Notifier for socket, the value of $NOTIFY_SOCKET: a path,
// or a name in the abstract namespace starting with "@" (the Go runtime
// turns the "@" into the NUL byte the kernel expects). "" gives the zero
// Notifier.
func New(socket string) (Notifier, error) {
	switch {
	case socket == "":
		return Notifier{}, nil
	case strings.HasPrefix(socket, "/"), strings.HasPrefix(socket, "@") && len(socket) > 1:
		return Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	}
	// systemd 254 and later may also name a vsock address, for virtual
	// machines; relayd does not run where that is needed.
	return Notifier{}, fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or an abstract name starting with @", socket)
}

// Enabled reports whether the Notifier sends anything.
func (n Notifier) Enabled() bool { return n.addr != nil }

// Notify sends msg, one or more of the messages above separated by
// newlines, in one datagram.
func (n Notifier) Notify(msg string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// WatchdogInterval returns how often a process must send Watchdog, given
// $WATCHDOG_USEC and $WATCHDOG_PID as systemd sets them and the process's
// own pid: half the unit's WatchdogSec, as sd_watchdog_enabled(3) advises,
// so that one late ping is not yet a missed one. It returns 0 when no
// watchdog is asked of this process: WATCHDOG_USEC unset, or WATCHDOG_PID
// naming another process (a child that inherited its parent's environment).
func WatchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" && pid != strconv.Itoa(self) {
		return 0, nil
	}
	us, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || us <= 0 || us > math.MaxInt64/int64(time.Microsecond) {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", usec)
	}
	return time.Duration(us) * time.Microsecond / 2, nil
}

// KeepAlive sends Watchdog every interval until ctx ends. A ping that
// fails is reported to failed and the next one tried all the same: it is
// systemd's to decide when too many were missed.
func (n Notifier) KeepAlive(ctx context.Context, every time.Duration, failed func(error)) {
	if !n.Enabled() || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.Notify(Watchdog); err != nil {
				failed(err)
			}
		}
	}
}

// FromEnv returns the Notifier and watchdog interval that systemd asks of
// this process through its environment. Either may be the zero value;
// the error says what could not be understood, and what could is still
// returned.
func FromEnv() (Notifier, time.Duration, error) {
	n, nerr := New(os.Getenv("NOTIFY_SOCKET"))
	every, werr := WatchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
	if !n.Enabled() {
		every = 0 // a ping has nowhere to go
	}
	return n, every, errors.Join(nerr, werr)
}
