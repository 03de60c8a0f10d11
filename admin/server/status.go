package server

import (
	"fmt"
	"net/http"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// getStatus answers GET /v1/status. Counts come from the spool's counters,
// so the answer costs the same on any spool.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	counts, err := s.o.Spool.Counts()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	pauses, err := s.o.Spool.Pauses()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	batches, err := s.o.Spool.Batches(true)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	unreadable, err := s.o.Spool.Unreadable()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if len(unreadable) > 0 {
		s.log.Error("unreadable spool records: a pause, batch or freeze holds the mail it may cover until it is set again; a webhook gets no events until it is removed and added again",
			"records", unreadable)
	}
	st := admin.Status{
		Counts:           make(map[string]int, len(spool.States)),
		Hold:             s.o.Hold.String(),
		Upstream:         s.o.Upstream,
		UpstreamFallback: s.o.UpstreamFallback,
		Routes:           s.credentialRoutes(),
		Pauses:           make([]admin.Pause, 0, len(pauses)), // never null on the wire
		Credentials:      s.o.Creds.Len(),
		Version:          s.o.Version,
		Started:          s.started,
		Unreadable:       append(make([]string, 0, len(unreadable)), unreadable...),
	}
	for _, p := range pauses {
		st.Pauses = append(st.Pauses, wirePause(p))
	}
	st.Batches = make([]admin.Batch, 0, len(batches))
	for _, b := range batches {
		st.Batches = append(st.Batches, wireBatch(b))
	}
	for _, state := range spool.States {
		st.Counts[state.String()] = counts[state]
	}
	if st.Braked, err = s.braked(); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	st.BrakeDuplicates, st.BrakeRate = s.o.Brake.Duplicates, s.o.Brake.Rate
	s.writeJSON(w, http.StatusOK, st)
	return nil
}
