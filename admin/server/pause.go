package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// pause answers POST /v1/pause: it stops delivery, for one credential or
// all, and holds what was waiting. Accepting goes on; new mail arrives
// held. A pause with For ends by itself: the dispatcher resumes it.
func (s *Server) pause(w http.ResponseWriter, r *http.Request) error {
	var req admin.PauseRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	if req.Credential != "" {
		if _, ok := s.o.Creds.Get(req.Credential); !ok {
			return notFound("no credential %q to pause", req.Credential)
		}
	}
	var d time.Duration
	if req.For != "" {
		var err error
		if d, err = time.ParseDuration(req.For); err != nil || d <= 0 {
			return invalid("for %q: want a positive duration such as 15m or 2h", req.For)
		}
	}
	now := s.now()
	c := callerOf(r)
	p := spool.Pause{Credential: req.Credential, Reason: req.Reason, Actor: c.actor, Since: now}
	if d > 0 {
		p.Until = now.Add(d)
	}
	// The pause record and its audit entry are written together; the
	// holds that follow count into the entry.
	rec := s.startAudit("pause", c, pauseSelector(req.Credential), req.Reason, now)
	held, err := s.o.Spool.PauseRecorded(p, rec)
	if rec.Seq != 0 {
		s.endAudit(rec, "pause", err, map[string]int{admin.OutcomeChanged: held})
	}
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	// Wake the dispatcher so that it learns when the pause ends.
	s.o.Dispatcher.Notify(now)
	s.writeJSON(w, http.StatusOK, admin.PauseResult{Pause: wirePause(p), Held: held})
	return nil
}

// resume answers POST /v1/resume: it ends a pause and puts what it held
// back on schedule, unless another pause still covers it.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) error {
	var req admin.ResumeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	now := s.now()
	c := callerOf(r)
	rec := s.startAudit("resume", c, pauseSelector(req.Credential), req.Reason, now)
	released, err := s.o.Spool.ResumeRecorded(req.Credential, spool.Event{Time: now, Actor: c.actor, Reason: req.Reason, Audit: rec})
	if rec.Seq != 0 {
		// The pause is gone, with its entry, though releasing may have failed.
		s.endAudit(rec, "resume", err, map[string]int{admin.OutcomeChanged: released})
	}
	switch {
	case errors.Is(err, spool.ErrNotFound) && req.Credential == "":
		return notFound("no such pause: delivery is not paused for every credential")
	case errors.Is(err, spool.ErrNotFound):
		return notFound("no such pause: credential %s is not paused", req.Credential)
	case err != nil:
		return fmt.Errorf("resume: %w", err)
	}
	s.o.Dispatcher.Notify(now)
	s.writeJSON(w, http.StatusOK, admin.ResumeResult{Credential: req.Credential, Released: released})
	return nil
}

// pauseSelector renders what a pause covers the way selectors read.
func pauseSelector(cred string) string {
	if cred == "" {
		return "all"
	}
	return "credential=" + cred
}

func wirePause(p spool.Pause) admin.Pause {
	out := admin.Pause{Credential: p.Credential, Reason: p.Reason, Actor: p.Actor, Since: p.Since}
	if !p.Until.IsZero() {
		u := p.Until
		out.Until = &u
	}
	return out
}
