package server

import (
	"context"
	"errors"
	"net/http"

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
		spool.Paused, spool.NotFound}
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
		// The wait outlives a client that hangs up, so that the audit
		// log records what really happened.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		res, err := wait(s.o.Spool, sel, ev, dry, func(ids []spool.ID) error {
			return s.o.Dispatcher.Abort(ctx, ids)
		})
		if err != nil && ctx.Err() != nil {
			s.log.Warn("deliveries in flight did not end in time", "in_flight", res.Count(spool.InFlight), "err", err)
			return res, nil
		}
		return res, err
	}
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
		res, err := b.run(s, r.Context(), sel, spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}, req.DryRun)
		if errors.Is(err, spool.ErrEmptySelector) {
			return describe(err, "%s: no messages selected: give IDs or criteria, or all to select every message", b.name)
		}
		out := actionResult(b, req.DryRun, res)
		if !req.DryRun && (err == nil || len(res.IDs) > 0) {
			// A bulk change commits in chunks: one that fails part way
			// has changed what the earlier chunks did, so audit that.
			action := b.name
			if err != nil {
				action += " (incomplete)"
			}
			s.audit(spool.AuditEntry{Time: now, Actor: c.actor, Action: action,
				Selector: req.Selector.String(), Reason: req.Reason, Counts: nonZero(out.Counts)})
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
	out := admin.ActionResult{Action: b.name, DryRun: dry, Counts: map[string]int{}, IDs: map[string][]string{}}
	for _, o := range b.outcomes {
		out.Counts[string(o)] = 0
	}
	for o, ids := range res.IDs {
		out.Counts[string(o)] = len(ids)
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

// audit records a change. The change is made already: a failure to
// record it is logged, and the caller still gets the truth about what
// changed.
func (s *Server) audit(e spool.AuditEntry) {
	if _, err := s.o.Spool.AddAudit(e); err != nil {
		s.log.Error("audit entry not written", "action", e.Action, "actor", e.Actor, "selector", e.Selector, "err", err)
	}
}
