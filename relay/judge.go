package relay

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// judge turns an attempt's per-recipient outcomes into the message's next
// state. Recipients that got 2xx are delivered and never sent again; 5xx
// fail them for good; anything else leaves them pending for a retry, until
// the message is older than MaxAge (counted from its send time, if later).
// No retry is planned past that age, so a message never outlives it by a
// retry interval.
func judge(m spool.Message, outs []upstream.Outcome, now time.Time, cfg DispatcherConfig) spool.Attempt {
	byAddr := make(map[string]upstream.Outcome, len(outs))
	for _, o := range outs {
		byAddr[o.Rcpt] = o
	}
	rcpts := append([]spool.Recipient(nil), m.Rcpts...)
	var pending, failed int
	var lastTemp, lastPerm string
	for i := range rcpts {
		r := &rcpts[i]
		if r.State != spool.RcptPending {
			continue
		}
		o, ok := byAddr[r.Addr]
		if !ok {
			o = upstream.Outcome{Rcpt: r.Addr, Message: "no result from the upstream"}
		}
		r.Reply = reply(o)
		switch {
		case o.Delivered():
			r.State = spool.RcptDelivered
		case o.Permanent():
			r.State = spool.RcptFailed
			failed++
			lastPerm = r.Reply
		default:
			pending++
			lastTemp = r.Reply
		}
	}
	out := spool.Attempt{Rcpts: rcpts, Now: now, Interrupted: unanswered(outs)}
	switch {
	case pending > 0 && now.Sub(ageFrom(&m)) >= cfg.MaxAge:
		for i := range rcpts {
			if rcpts[i].State == spool.RcptPending {
				rcpts[i].State = spool.RcptFailed
			}
		}
		out.State = spool.Failed
		out.LastError = "gave up after " + cfg.MaxAge.String() + ": " + lastTemp
	case pending > 0:
		out.State = spool.Deferred
		out.LastError = lastTemp
		// The last retry comes at MaxAge, not a backoff after it: the
		// message fails then if it still cannot go.
		out.Retry = minTime(now.Add(backoff(m.Attempts, cfg.RetryMin, cfg.RetryMax)), ageFrom(&m).Add(cfg.MaxAge))
	case failed > 0 || anyFailed(rcpts):
		out.State = spool.Failed
		out.LastError = lastPerm
		if out.LastError == "" {
			out.LastError = m.LastError
		}
	default:
		out.State = spool.Delivered
	}
	return out
}

// ageFrom is when a message's retry age starts: a scheduled message is
// not stale just because it was spooled long before its send time.
func ageFrom(m *spool.Message) time.Time {
	if m.SendAt.After(m.Received) {
		return m.SendAt
	}
	return m.Received
}

func anyFailed(rcpts []spool.Recipient) bool {
	for _, r := range rcpts {
		if r.State == spool.RcptFailed {
			return true
		}
	}
	return false
}

func reply(o upstream.Outcome) string {
	if o.Code == 0 {
		return o.Message
	}
	return fmt.Sprintf("%d %s", o.Code, o.Message)
}

// backoff doubles from min with each attempt up to max, and spreads retries
// by ±25% so that messages deferred together do not retry together.
func backoff(attempts int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// unanswered reports whether the dot went out without a reply: the
// upstream may have the message.
func unanswered(outs []upstream.Outcome) bool {
	for _, o := range outs {
		if o.Unknown {
			return true
		}
	}
	return false
}
