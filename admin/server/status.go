package server

import (
	"fmt"
	"net/http"
	"os"
	"time"

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
	st.Now = s.now().Round(0).UTC()
	if st.Nodes, err = s.nodes(st.Now); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	s.writeJSON(w, http.StatusOK, st)
	return nil
}

// nodes lists the nodes sharing the spool; a spool of one node knows no
// nodes, so this relayd describes itself.
func (s *Server) nodes(now time.Time) ([]admin.Node, error) {
	list, err := s.o.Spool.Nodes()
	if err != nil {
		return nil, err
	}
	if !s.o.Spool.Clustered() {
		name := s.o.Node
		if name == "" {
			name, _ = os.Hostname()
		}
		return []admin.Node{{Name: name, Started: s.started, LastSeen: now, Version: s.o.Version, Alive: true, Self: true}}, nil
	}
	out := make([]admin.Node, 0, len(list))
	for _, n := range list {
		out = append(out, admin.Node{Name: n.Name, Boot: n.Boot, Started: n.Started.UTC(), LastSeen: n.LastSeen.UTC(),
			Lease: n.Lease.String(), Version: n.Version, Alive: n.Alive, Self: n.Self})
	}
	return out, nil
}
