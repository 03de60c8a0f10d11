package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// disableCredential answers POST /v1/credentials/{name}/disable. In
// this order, so that nothing the credential sent can slip through:
//
//  1. auth refuses its logins, and the SMTP intake, told through auth's
//     change hook, closes the sessions that logged in with it, waiting
//     for a message such a session is committing to the spool;
//  2. the spool freezes it: none of its messages is claimed for
//     delivery, and any that still arrives is accepted held;
//  3. every pending message of it is held, and those being sent are
//     aborted, as hold does; the answer waits for their outcomes.
//
// Delivered messages are counted before and after: the difference is
// what the upstream took while the disable ran, so no message is counted
// twice or missed, however the deliveries in flight end.
func (s *Server) disableCredential(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.CredentialChangeRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	defer s.credLocks.lock(name)()
	if _, ok := s.o.Creds.Get(name); !ok {
		return noCredential(name)
	}
	now := s.now()
	c := callerOf(r)
	ev := spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}
	if ev.Reason == "" {
		ev.Reason = "credential disabled"
	}
	// Logins stop and the spool freezes before anything is counted: with
	// a runaway's million messages, counting takes a while, and nothing
	// more may get in meanwhile. A delivery that ends in between counts as
	// already delivered rather than delivered during the disable.
	// The audit entry is written with the credential record, and each
	// later step counts into it.
	const action = "credential disable"
	ev.Audit = s.startAudit(action, c, "credential="+name, req.Reason, now)
	delivered := spool.Selector{Credential: name, States: []spool.State{spool.Delivered}}
	var res spool.Result
	var before, after map[spool.State]int
	err := s.setDisabled(name, true, ev.Audit)
	if err == nil {
		err = s.o.Spool.Freeze(name, ev)
	}
	if err == nil {
		before, err = s.o.Spool.Count(delivered)
	}
	if err == nil {
		// Held for the freeze, so that an enable with release lets go of
		// these and of no message an operator held on purpose.
		res, err = s.waitAborts(r.Context(), func(abort func([]spool.ID) error) (spool.Result, error) {
			return s.o.Spool.HoldFrozenWait(name, ev, abort)
		})
	}
	if err == nil {
		after, err = s.o.Spool.Count(delivered)
	}
	out := admin.CredentialDisabled{
		Held:             res.Count(spool.Changed),
		AlreadyHeld:      res.Count(spool.Unchanged),
		DeliveredDuring:  max(0, after[spool.Delivered]-before[spool.Delivered]),
		InFlight:         res.Count(spool.InFlight),
		FailedDuring:     res.Count(spool.AlreadyFinished),
		AlreadyDelivered: before[spool.Delivered],
	}
	if ev.Audit.Seq != 0 {
		s.endAudit(ev.Audit, action, err, disabledCounts(out))
	}
	if err != nil {
		return fmt.Errorf("disable %s: %w", name, err)
	}
	cred, _ := s.o.Creds.Get(name)
	out.Credential = toWire(cred)
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// disabledCounts names a disable's counts for the audit log, as the wire
// does.
func disabledCounts(d admin.CredentialDisabled) map[string]int {
	return map[string]int{"held": d.Held, "already_held": d.AlreadyHeld, "delivered_during": d.DeliveredDuring,
		"in_flight": d.InFlight, "failed_during": d.FailedDuring, "already_delivered": d.AlreadyDelivered}
}

// enableCredential answers POST /v1/credentials/{name}/enable. The
// spool thaws first, then logins work again, so no new message of the
// credential arrives held by a freeze that is about to end. Held messages
// stay held unless the request asks for their release.
func (s *Server) enableCredential(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.EnableCredentialRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	defer s.credLocks.lock(name)()
	if _, ok := s.o.Creds.Get(name); !ok {
		return noCredential(name)
	}
	now := s.now()
	c := callerOf(r)
	const action = "credential enable"
	ev := spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}
	// The entry is written with the thaw, a change of its own; the event
	// only with auth's record, so that it never tells of an enable that
	// a failed or cut-short write of that record did not make.
	ev.Audit = s.startAudit(action, c, "credential="+name, req.Reason, now)
	err := s.o.Spool.Unfreeze(name, ev)
	if err == nil {
		err = s.setDisabled(name, false, ev.Audit)
	}
	var res spool.Result
	if err == nil && req.Release {
		// Only what the freeze held: a message an operator held before
		// the disable stays held.
		res, err = s.o.Spool.ReleaseFrozen(name, ev)
	}
	// Thawed, its queued messages may be claimed again.
	s.o.Dispatcher.Notify(now)
	if ev.Audit.Seq != 0 {
		s.endAudit(ev.Audit, action, err, map[string]int{admin.OutcomeChanged: res.Count(spool.Changed)})
	}
	if err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	held, err := s.o.Spool.Count(spool.Selector{Credential: name, States: []spool.State{spool.Held}})
	if err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	cred, _ := s.o.Creds.Get(name)
	s.writeJSON(w, http.StatusOK, admin.CredentialEnabled{Credential: toWire(cred), Released: res.Count(spool.Changed), Held: held[spool.Held]})
	return nil
}

// removeCredential answers DELETE /v1/credentials/{name}. The
// credential's messages stay: pending ones are delivered as scheduled
// (drop them first to stop them), held ones stay held.
func (s *Server) removeCredential(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.CredentialChangeRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	defer s.credLocks.lock(name)()
	now := s.now()
	c := callerOf(r)
	const action = "credential rm"
	ev := spool.Event{Time: now, Actor: c.actor, Reason: req.Reason}
	ev.Audit = s.startAudit(action, c, "credential="+name, req.Reason, now)
	unstage := s.o.Spool.AuditCredential(name, spool.EvCredentialRemoved, ev.Audit)
	err := s.o.Creds.Remove(name)
	unstage()
	if errors.Is(err, auth.ErrNotFound) {
		return noCredential(name)
	} else if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	// The credential is gone already, on record: whatever else fails, say so.
	err = s.o.Spool.Unfreeze(name, ev)
	var counts map[spool.State]int
	if err == nil {
		counts, err = s.o.Spool.Count(spool.Selector{Credential: name, States: []spool.State{
			spool.Waiting, spool.Held, spool.Queued, spool.Sending, spool.Deferred}})
	}
	out := admin.CredentialRemoved{Name: name, Held: counts[spool.Held]}
	for st, n := range counts {
		if st != spool.Held {
			out.Pending += n
		}
	}
	ev.Audit.Detail = fmt.Sprintf("left in the spool: %d pending, %d held", out.Pending, out.Held)
	s.endAudit(ev.Audit, action, err, nil)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// rotatePassword answers POST /v1/credentials/{name}/rotate with the new
// password, which nothing else ever sees. auth's change hook has the SMTP
// intake close the sessions that logged in with the old password, at
// once or when the grace ends.
func (s *Server) rotatePassword(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.RotateRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	var grace time.Duration
	if req.Grace != "" {
		var err error
		if grace, err = time.ParseDuration(req.Grace); err != nil || grace < 0 {
			return invalid("grace %q: want a duration such as 10m or 24h (0s: the old password fails at once)", req.Grace)
		}
	}
	defer s.credLocks.lock(name)()
	rec := &spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor, Action: "password-rotate",
		Selector: "credential=" + name, Reason: req.Reason, Detail: "old password refused at once"}
	if grace > 0 {
		rec.Detail = fmt.Sprintf("grace=%s", grace)
	}
	unstage := s.o.Spool.AuditCredential(name, spool.EvCredentialRotated, rec)
	password, err := s.o.Creds.Rotate(name, grace)
	unstage()
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return noCredential(name)
	case err != nil:
		return fmt.Errorf("rotate %s: %w", name, err)
	}
	c, _ := s.o.Creds.Get(name)
	if !c.GraceUntil.IsZero() {
		// Written with the new password; auth's clock says until when.
		rec.Detail = fmt.Sprintf("grace=%s: old password accepted until %s", grace, c.GraceUntil.Format(time.RFC3339))
		s.endAudit(rec, rec.Action, nil, nil)
	}
	s.writeJSON(w, http.StatusOK, admin.PasswordRotated{Credential: toWire(c), Password: password, APIKey: auth.APIKey(c.Name, password)})
	return nil
}

// setDisabled disables or enables a credential in auth, writing rec and
// the change's event with the credential record.
func (s *Server) setDisabled(name string, disabled bool, rec *spool.AuditEntry) error {
	event := spool.EvCredentialEnabled
	if disabled {
		event = spool.EvCredentialDisabled
	}
	defer s.o.Spool.AuditCredential(name, event, rec)()
	return s.o.Creds.SetDisabled(name, disabled)
}

// decodeOptionalJSON is decodeJSON for bodies that may be left out: an
// empty body leaves v as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return describe(err, "request body larger than %d bytes", maxBody)
	case err != nil:
		return invalid("bad request body: %v", err)
	case len(bytes.TrimSpace(body)) == 0:
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeJSON(w, r, v)
}

// keyedLocks serializes the changes to each credential, so that a set
// reading the settings and writing them back, or a disable and an enable
// running at once, never interleave. Different credentials do not wait
// for each other: a disable may wait minutes for deliveries to end.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu    sync.Mutex
	users int // holders and waiters; the entry goes when it drops to 0
}

// lock locks key and returns its unlock.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
