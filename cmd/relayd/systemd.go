package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/holdrelay/relay/internal/sdnotify"
)

// systemd tells systemd, when it runs relayd as a Type=notify service,
// when relayd is ready, that it is alive (if the unit sets WatchdogSec)
// and when it starts stopping. Outside systemd it does nothing.
type systemd struct {
	n        sdnotify.Notifier
	watchdog time.Duration // 0: no watchdog asked
	log      *slog.Logger
}

func newSystemd(log *slog.Logger) systemd {
	n, every, err := sdnotify.FromEnv()
	if err != nil {
		// Not fatal: under systemd, the start then times out, which says
		// more than a refusal to start would.
		log.Error("systemd's environment not understood; relayd will not notify it", "err", err)
	}
	return systemd{n: n, watchdog: every, log: log}
}

// ready sends READY=1, then pings the watchdog until stop is called.
func (s systemd) ready() (stop func()) {
	s.notify(sdnotify.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.n.KeepAlive(ctx, s.watchdog, func(err error) { s.log.Warn("systemd watchdog ping failed", "err", err) })
	}()
	return func() {
		cancel()
		<-done
	}
}

func (s systemd) stopping() { s.notify(sdnotify.Stopping) }

// reloading starts a reload, as sd_notify(3) asks: RELOADING=1 with the
// time, to be followed by readyAgain.
func (s systemd) reloading() { s.notify(sdnotify.Reloading(sdnotify.Monotonic())) }

// readyAgain ends a reload, whether or not it succeeded (relayd serves
// either way), with a status line for systemctl status.
func (s systemd) readyAgain(status string) {
	s.notify(sdnotify.Ready + "\n" + sdnotify.Status(status))
}

func (s systemd) notify(msg string) {
	if err := s.n.Notify(msg); err != nil {
		s.log.Error("notifying systemd failed", "msg", msg, "err", err)
	}
}
