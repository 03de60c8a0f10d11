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

// finish records an attempt's outcome and, in the same transaction,
// claims the slot's next message (see finishAndClaim). When the spool cannot write it
// (spool.ErrStorage), it tries again with backoff rather than leave the
// message sending until the next start: the upstream's answer is known
// and must not be lost, and a message left sending would be sent again
// after a restart. It keeps its delivery slot meanwhile, which is
// the backpressure a full disk should cause. It gives up only when ctx
// ends (the shutdown deadline): an operator's abort waits for it, so that
// a drop or hold reports what the upstream's answer made of the message.
// After a give-up the message stays sending, and the next start queues it
// again (at least once).
func (d *Dispatcher) finish(ctx context.Context, id spool.ID, o spool.Attempt) (spool.Message, spool.Claimed, *flight, error) {
	wait := finishRetryMin
	for {
		m, next, f, err := d.finishAndClaim(ctx, id, o)
		if err == nil || !errors.Is(err, spool.ErrStorage) || ctx.Err() != nil {
			return m, next, f, err
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

// finishAndClaim records the outcome and claims the next due message, if
// any, registering its flight (derived from ctx, the deliveries context)
// before the commit, as the loop's claims do. Once the dispatcher stops
// claiming, it only records the outcome.
func (d *Dispatcher) finishAndClaim(ctx context.Context, id spool.ID, o spool.Attempt) (spool.Message, spool.Claimed, *flight, error) {
	limit := 1
	if d.claiming.Err() != nil {
		limit = 0
	}
	reg := d.registrar(ctx)
	m, next, err := d.spool.FinishAndClaim(id, o, limit, reg.register)
	flights := reg.settle(next, err)
	if len(flights) == 0 {
		return m, spool.Claimed{}, nil, err
	}
	return m, next[0], flights[0], err
}
