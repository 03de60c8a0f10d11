package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// listBrakes answers GET /v1/brakes: the braked credentials, by name.
func (s *Server) listBrakes(w http.ResponseWriter, r *http.Request) error {
	out, err := s.braked()
	if err != nil {
		return fmt.Errorf("brakes: %w", err)
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// braked lists the brakes with how much each holds now; never nil.
func (s *Server) braked() ([]admin.Brake, error) {
	bs, err := s.o.Spool.Brakes()
	if err != nil {
		return nil, err
	}
	out := make([]admin.Brake, 0, len(bs))
	for _, b := range bs {
		wb := wireBrake(b)
		if wb.Held, err = s.heldByBrake(b.Credential); err != nil {
			return nil, err
		}
		out = append(out, wb)
	}
	return out, nil
}

func (s *Server) heldByBrake(cred string) (int, error) {
	return s.o.Spool.CountHeldBy(cred, spool.HeldByBrake)
}

func wireBrake(b spool.Brake) admin.Brake {
	return admin.Brake{Credential: b.Credential, Trigger: b.Trigger, Since: b.Since, Count: b.Count,
		Threshold: b.Threshold, Window: b.Window.String(), Recipient: b.Recipient, Subject: b.Subject, HeldAtTrip: b.Held}
}

// releaseBrake answers POST /v1/brakes/{name}/release: the brake comes
// off, the mail it held goes back on its schedule, and the intake's
// counters for the credential start afresh, so the same runaway trips it
// again. The audit entry and brake.released are written with the
// removal of the brake record.
func (s *Server) releaseBrake(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.BrakeReleaseRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	defer s.credLocks.lock(name)()
	now := s.now()
	c := callerOf(r)
	const action = "brake release"
	ev := spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}
	ev.Audit = s.startAudit(action, c, "credential="+name, req.Reason, now)
	b, res, err := s.o.Spool.ReleaseBrake(name, ev)
	if errors.Is(err, spool.ErrNotBraked) {
		if _, ok := s.o.Creds.Get(name); !ok {
			return noCredential(name)
		}
		return &apiError{status: http.StatusConflict, code: admin.CodeNotBraked,
			msg: fmt.Sprintf("credential %q is not braked (relayctl brake ls lists those that are)", name)}
	}
	if ev.Audit.Seq != 0 {
		if s.o.BrakeReset != nil {
			s.o.BrakeReset(name)
		}
		s.o.Dispatcher.Notify(now)
		s.endAudit(ev.Audit, action, err, map[string]int{admin.OutcomeChanged: res.Count(spool.Changed)})
	}
	if err != nil {
		return fmt.Errorf("release brake %s: %w", name, err)
	}
	held, err := s.o.Spool.Count(spool.Selector{Credential: name, States: []spool.State{spool.Held}})
	if err != nil {
		return fmt.Errorf("release brake %s: %w", name, err)
	}
	s.writeJSON(w, http.StatusOK, admin.BrakeReleased{Brake: wireBrake(b), Released: res.Count(spool.Changed), StillHeld: held[spool.Held]})
	return nil
}
