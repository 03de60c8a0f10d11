package relay

import (
	"context"
	"errors"
	"time"

	"github.com/holdrelay/relay/spool"
)

// How long finish waits between tries to record an outcome the spool could
// not write (disk full, I/O error).
const (
	finishRetryMin = time.Second
	finishRetryMax = 30 * time.Second
)

// finish records an attempt's outcome. When the spool cannot write it
// (spool.ErrStorage), it tries again with backoff rather than leave the
// message sending until the next start: the upstream's answer is known
// and must not be lost, and a message left sending would be sent again
// after a restart. It keeps its delivery goroutine meanwhile, which is
// the backpressure a full disk should cause. It gives up only when ctx
// ends (the shutdown deadline): an operator's abort waits for it, so that
// a drop or hold reports what the upstream's answer made of the message.
// After a give-up the message stays sending, and the next start queues it
// again (at least once).
func (d *Dispatcher) finish(ctx context.Context, id spool.ID, o spool.Attempt) (spool.Message, error) {
	wait := finishRetryMin
	for {
		m, err := d.spool.Finish(id, o)
		if err == nil || !errors.Is(err, spool.ErrStorage) || ctx.Err() != nil {
			return m, err
		}
		d.log.Error("recording delivery outcome failed; will try again", "id", id, "err", err, "in", wait)
		timer := d.clock.TimerAt(d.clock.Now().Add(wait))
		select {
		case <-timer.C():
		case <-ctx.Done():
		}
		timer.Stop()
		wait = min(2*wait, finishRetryMax)
	}
}
