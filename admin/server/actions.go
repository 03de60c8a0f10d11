package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// bulk is one of the changes POST /v1/{flush,drop,hold,release,purge}
// makes to the messages a selector picks.
type bulk struct {
	name string
	// outcomes are those the change can have, reported with zeros.
	outcomes []spool.Outcome
	// notify wakes the dispatcher after a real run: something may be due.
	notify bool
	run    func(s *Server, ctx context.Context, sel spool.Selector, ev spool.Event, dry bool) (spool.Result, error)
}

var (
	dropOutcomes = []spool.Outcome{spool.Changed, spool.MaybeDelivered, spool.InFlight, spool.AlreadyDelivered, spool.AlreadyFinished,
		spool.NotFound}
	holdOutcomes = []spool.Outcome{spool.Changed, spool.InFlight, spool.AlreadyDelivered, spool.AlreadyFinished,
		spool.Unchanged, spool.NotFound}
	goOutcomes = []spool.Outcome{spool.Changed, spool.AlreadyDelivered, spool.AlreadyFinished, spool.Unchanged, spool.Disabled,
		spool.Paused, spool.Braked, spool.NotFound}
)

var (
	flush = bulk{name: "flush", notify: true, outcomes: goOutcomes,
		run: func(s *Server, _ context.Context, sel spool.Selector, ev spool.Event, dry bool) (spool.Result, error) {
			return s.o.Spool.Flush(sel, ev, dry)
		}}
	release = bulk{name: "release", notify: true, outcomes: goOutcomes,
		run: func(s *Server, _ context.Context, sel spool.Selector, ev spool.Event, dry bool) (spool.Result, error) {
			return s.o.Spool.Release(sel, ev, dry)
		}}
	hold  = bulk{name: "hold", outcomes: holdOutcomes, run: stopper((*spool.Spool).HoldWait)}
	drop  = bulk{name: "drop", outcomes: dropOutcomes, run: stopper((*spool.Spool).DropWait)}
	purge = bulk{name: "purge", outcomes: dropOutcomes, run: stopper((*spool.Spool).DropWait)}
)

// waitFunc is DropWait or HoldWait.
type waitFunc func(sp *spool.Spool, sel spool.Selector, ev spool.Event, dry bool, abort func([]spool.ID) error) (spool.Result, error)

// stopper runs a drop or a hold that, for messages being sent, waits
// until the dispatcher has aborted them and recorded each outcome
// (guarantee 3): when it returns, a message it reports dropped or held
// can no longer be delivered, and one the upstream took in the meantime
// is reported delivered. If the wait ends first, those messages stay
// reported in flight: marked to be dropped or held unless their attempt
// delivers them.
func stopper(wait waitFunc) func(*Server, context.Context, spool.Selector, spool.Event, bool) (spool.Result, error) {
	return func(s *Server, ctx context.Context, sel spool.Selector, ev spool.Event, dry bool) (spool.Result, error) {
		return s.waitAborts(ctx, func(abort func([]spool.ID) error) (spool.Result, error) {
			return wait(s.o.Spool, sel, ev, dry, abort)
		})
	}
}

// waitAborts runs a change that aborts deliveries in flight and waits
// for their outcomes, for at most abortTimeout. The wait outlives a
// client that hangs up, so that the audit log records what really
// happened.
func (s *Server) waitAborts(ctx context.Context, run func(abort func([]spool.ID) error) (spool.Result, error)) (spool.Result, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	res, err := run(func(ids []spool.ID) error { return s.o.Dispatcher.Abort(ctx, ids) })
	if err != nil && ctx.Err() != nil {
		s.log.Warn("deliveries in flight did not end in time", "in_flight", res.Count(spool.InFlight), "err", err)
		return res, nil
	}
	return res, err
}

// action returns the handler of one bulk change. Support and operators
// share the selector, the dry run, the counts and the audit entry.
func (s *Server) action(b bulk) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req admin.ActionRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		if err := checkText("reason", req.Reason); err != nil {
			return err
		}
		if b.name == purge.name && req.Selector.Empty() {
			req.Selector.All = true // purge's default is every pending message
		}
		now := s.now()
		sel, err := spoolSelector(req.Selector, now)
		if err != nil {
			return err
		}
		c := callerOf(r)
		ev := spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}
		rec := s.startAudit(b.name, c, req.Selector.String(), req.Reason, now)
		if !req.DryRun {
			ev.Audit = rec
		}
		res, err := b.run(s, r.Context(), sel, ev, req.DryRun)
		if errors.Is(err, spool.ErrEmptySelector) {
			return describe(err, "%s: no messages selected: give IDs or criteria, or all to select every message", b.name)
		}
		out := actionResultOf(b, req.DryRun, res, req.CountsOnly)
		if !req.DryRun && (err == nil || rec.Seq != 0) {
			// A bulk change commits in chunks: one that fails part way
			// keeps what the earlier chunks did, on record already.
			s.endAudit(rec, b.name, err, out.Counts)
			if b.notify {
				s.o.Dispatcher.Notify(now)
			}
		}
		if err != nil {
			return describe(err, "%s: %v", b.name, err)
		}
		s.writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// actionResult counts every outcome b can have, zeros included, and
// lists the IDs of those that happened. An outcome outside b's list
// (from a newer spool) is still reported.
func actionResult(b bulk, dry bool, res spool.Result) admin.ActionResult {
	return actionResultOf(b, dry, res, false)
}

// actionResultOf is actionResult that, countsOnly, lists the IDs of
// not_found only (see admin.ActionRequest.CountsOnly).
func actionResultOf(b bulk, dry bool, res spool.Result, countsOnly bool) admin.ActionResult {
	out := admin.ActionResult{Action: b.name, DryRun: dry, Counts: map[string]int{}, IDs: map[string][]string{}}
	for _, o := range b.outcomes {
		out.Counts[string(o)] = 0
	}
	for o, ids := range res.IDs {
		out.Counts[string(o)] = len(ids)
		if countsOnly && o != spool.NotFound {
			continue
		}
		texts := make([]string, 0, len(ids))
		for _, id := range ids {
			texts = append(texts, id.String())
		}
		out.IDs[string(o)] = texts
	}
	return out
}

func nonZero(counts map[string]int) map[string]int {
	out := make(map[string]int, len(counts))
	for k, n := range counts {
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

// startAudit begins the audit entry of a change, to be written by the
// spool in the change's first transaction (see spool.Event.Audit). Until
// endAudit rewrites it, it says the change is incomplete, which is what a
// kill -9 in the middle of the change leaves true.
func (s *Server) startAudit(action string, c caller, selector, reason string, now time.Time) *spool.AuditEntry {
	return &spool.AuditEntry{Time: now, Actor: c.actor, Action: action + incomplete, Selector: selector, Reason: reason}
}

const incomplete = " (incomplete)"

// endAudit rewrites rec once its change has ended, with the counts the
// caller is told. The change is on record already: a failure to rewrite
// the entry is logged, and the caller still gets the truth about what
// changed.
func (s *Server) endAudit(rec *spool.AuditEntry, action string, err error, counts map[string]int) {
	rec.Action = action
	if err != nil {
		rec.Action += incomplete
	}
	if counts != nil {
		rec.Counts = nonZero(counts)
	}
	if err := s.o.Spool.PutAudit(rec); err != nil {
		s.log.Error("audit entry not completed", "action", rec.Action, "actor", rec.Actor, "selector", rec.Selector, "seq", rec.Seq, "err", err)
	}
}
