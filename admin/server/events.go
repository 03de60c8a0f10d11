package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// eventsPage is how many events the stream reads from the spool at once.
const eventsPage = 500

// eventStream is what GET /v1/events asked for.
type eventStream struct {
	after  uint64
	types  webhook.Endpoint // only its Events filter: Match is the webhooks' own
	sel    spool.Selector   // on the event's data
	follow bool
}

// events answers GET /v1/events with JSON lines, oldest first. Without
// follow it ends after the newest event; with it, it stays open and sends
// each event as it is written, until the client leaves or relayd shuts
// down. Once the first line is out, a failure can only end the stream:
// it is logged.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	st, err := s.eventQuery(r.URL.Query())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", admin.EventsContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for {
		changed := s.o.Spool.EventsChanged() // before reading, so no commit slips between
		evs, err := s.o.Spool.Events(st.after, eventsPage)
		if err != nil {
			s.log.Error("event stream ended", "err", err)
			return nil
		}
		// Each write gets its own deadline: a follower may idle for
		// hours, but a client that stops reading is let go.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		for _, e := range evs {
			st.after = e.Seq
			if st.match(e) {
				if err := enc.Encode(wireEvent(e)); err != nil {
					return nil // the client left
				}
			}
		}
		if len(evs) == eventsPage {
			continue
		}
		if !st.follow {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}

// eventQuery reads GET /v1/events' query: after, type (repeatable),
// follow, and the selectors that apply to an event's data.
func (s *Server) eventQuery(q url.Values) (eventStream, error) {
	var st eventStream
	sq := maps.Clone(q)
	delete(sq, "type") // the one parameter that repeats
	ws, err := selectorQuery(sq, "after", "follow")
	if err != nil {
		return st, err
	}
	if len(ws.States) > 0 || ws.OlderThan != "" || ws.NewerThan != "" {
		return st, invalid("events take credential, from, to, batch and category; state, older_than and newer_than select messages, not events (use type and after)")
	}
	if st.sel, err = spoolSelector(ws, s.now()); err != nil {
		return st, err
	}
	for _, t := range q["type"] {
		if err := admin.CheckEventFilter(t); err != nil {
			return st, invalid("%v", err)
		}
	}
	st.types.Events = q["type"]
	if v := q.Get("follow"); v != "" {
		if st.follow, err = strconv.ParseBool(v); err != nil {
			return st, invalid("follow=%q: want true or false", v)
		}
	}
	if v := q.Get("after"); v != "" {
		if st.after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return st, invalid("after=%q: want an event's seq", v)
		}
		return st, nil
	}
	last, err := s.o.Spool.LastEventSeq()
	if err != nil {
		return st, err
	}
	st.after = last - min(last, admin.EventsTail)
	return st, nil
}

// match reports whether the stream shows e: its type is asked for, and
// its data meets the selector the way a message with that data would.
func (st *eventStream) match(e spool.OutboxEvent) bool {
	if !st.types.Match(e.Type) {
		return false
	}
	if st.sel.Empty() {
		return true
	}
	var d admin.EventData
	if json.Unmarshal(e.Data, &d) != nil {
		return false
	}
	m := spool.Message{Credential: d.Credential, From: d.From, Batch: d.BatchID, Categories: d.Categories}
	for _, r := range d.Recipients {
		m.Rcpts = append(m.Rcpts, spool.Recipient{Addr: r})
	}
	return st.sel.Match(&m)
}

func wireEvent(e spool.OutboxEvent) admin.OutboxEvent {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return admin.OutboxEvent{Seq: e.Seq, ID: e.ID, Type: e.Type, Timestamp: e.Time.UTC(), Data: data}
}
