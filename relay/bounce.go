package relay

import (
	"github.com/holdrelay/relay/spool"
)

// addBounce is the bounce step of a delivery: when the attempt fails the
// message for good, it gives the outcome the DSN to send its sender,
// which the spool accepts in the transaction that records the failure
// (spool.Attempt.Bounce). Never for a null sender: a DSN's own sender is
// null, so a DSN is never bounced.
func (d *Dispatcher) addBounce(o *spool.Attempt, c spool.Claimed) {
	if !d.cfg.Bounces || o.State != spool.Failed || c.From == "" || c.BounceOf != 0 {
		return
	}
	var failed []spool.Recipient
	for _, r := range o.Rcpts {
		if r.State == spool.RcptFailed {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	in, body := buildDSN(dsnInfo{hostname: d.cfg.Hostname, msg: c.Message, failed: failed, body: c.Body, now: o.Now})
	o.Bounce = &spool.Bounce{Incoming: in, Body: body}
}
