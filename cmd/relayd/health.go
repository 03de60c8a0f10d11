package main

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/spool"
)

// probeEvery bounds what readiness costs the spool: /readyz reuses a
// probe's result for this long, so that probes every second cost one
// small write every five, and no probe costs none.
const probeEvery = 5 * time.Second

var (
	errStarting = errors.New("starting")
	// The cause goes to the log: /readyz answers without a token.
	errNotWritable = errors.New("spool not writable (see relayd's log)")
)

// readiness is the admin server's Ready hook (draining is the server's
// own): relayd is ready once it serves, every listener open and the
// first password printed, and while its spool takes writes.
type readiness struct {
	sp      *spool.Spool
	clk     clock.Clock
	log     *slog.Logger
	serving atomic.Bool

	mu     sync.Mutex // one probe at a time; the others wait for its result
	probed time.Time  // when the last probe ran; zero: never
	err    error      // what it returned
}

func newReadiness(sp *spool.Spool, clk clock.Clock, log *slog.Logger) *readiness {
	return &readiness{sp: sp, clk: clk, log: log}
}

func (r *readiness) ready() error {
	if !r.serving.Load() {
		return errStarting
	}
	return r.writable()
}

func (r *readiness) writable() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clk.Now()
	if r.probed.IsZero() || now.Sub(r.probed) >= probeEvery || now.Before(r.probed) {
		r.err = r.sp.Probe()
		r.probed = now
		if r.err != nil {
			r.log.Warn("not ready: the spool refused a write", "err", r.err)
		}
	}
	if r.err != nil {
		return errNotWritable
	}
	return nil
}
