package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// listMessages answers GET /v1/messages: one page, newest first. The
// spool pages by ID, so a page costs the same on any spool.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ws, err := selectorQuery(q, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", admin.DefaultLimit, admin.MaxLimit)
	if err != nil {
		return err
	}
	var before spool.ID
	if c := q.Get("cursor"); c != "" {
		if before, err = spool.ParseID(c); err != nil {
			return invalid("cursor %q: not one relayd gave", c)
		}
	}
	now := s.now()
	sel, err := spoolSelector(ws, now)
	if err != nil {
		return err
	}
	msgs, next, err := s.o.Spool.List(sel, before, limit)
	if err != nil {
		return fmt.Errorf("list messages: %w", err)
	}
	out := admin.MessageList{Messages: make([]admin.Message, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, wireMessage(m, now))
	}
	if next != 0 {
		out.NextCursor = next.String()
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// getMessage answers GET /v1/messages/{id}.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.o.Spool.Details(id)
	if errors.Is(err, spool.ErrNotFound) {
		return noMessage(id)
	}
	if err != nil {
		return fmt.Errorf("message %s: %w", id, err)
	}
	out := admin.MessageDetails{
		Message: wireMessage(d.Message, s.now()),
		Headers: make([]admin.Header, 0, len(d.Headers)),
		History: make([]admin.Event, 0, len(d.History)),
	}
	for _, h := range d.Headers {
		out.Headers = append(out.Headers, admin.Header{Name: h.Name, Value: h.Value})
	}
	for _, e := range d.History {
		out.History = append(out.History, admin.Event{Time: e.Time, State: e.State.String(), Actor: e.Actor, Reason: e.Reason, Upstream: e.Upstream})
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// getRaw answers GET /v1/messages/{id}/raw with the message exactly as
// received. A finished message keeps its record, not its body: 410.
func (s *Server) getRaw(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	body, err := s.o.Spool.Body(id)
	if errors.Is(err, spool.ErrNotFound) {
		// Tell a message that never was from one whose body is gone.
		m, gerr := s.o.Spool.Get(id)
		if errors.Is(gerr, spool.ErrNotFound) {
			return noMessage(id)
		}
		if gerr != nil {
			return fmt.Errorf("message %s: %w", id, gerr)
		}
		return &apiError{status: http.StatusGone, code: admin.CodeGone,
			msg: fmt.Sprintf("message %s is %s: its body is no longer kept", id, m.State)}
	}
	if err != nil {
		return fmt.Errorf("body of %s: %w", id, err)
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		s.log.Debug("admin response not sent", "err", err)
	}
	return nil
}

func noMessage(id spool.ID) error {
	return notFound("no message %s (finished messages are kept for the retention period only)", id)
}

// pathID parses the {id} of a path; a malformed one is a 400 naming it.
func pathID(r *http.Request) (spool.ID, error) {
	id, err := spool.ParseID(r.PathValue("id"))
	if err != nil {
		return 0, invalid("%v", err)
	}
	return id, nil
}

// wireMessage converts a record for the API. ReleaseIn is counted on
// relayd's clock, so clients need not trust their own.
func wireMessage(m spool.Message, now time.Time) admin.Message {
	out := admin.Message{
		ID:         m.ID.String(),
		State:      m.State.String(),
		Credential: m.Credential,
		From:       m.From,
		To:         make([]admin.Recipient, 0, len(m.Rcpts)),
		Size:       m.Size,
		Subject:    m.Subject,
		MessageID:  m.MessageID,
		Received:   m.Received,
		Release:    m.Release,
		Attempts:   m.Attempts,
		LastError:  m.LastError,
		Upstream:   m.Upstream,
		HeldBy:     m.HeldBy,
		Reason:     m.Reason,
		Batch:      m.Batch,
		Categories: m.Categories,
		UniqueArgs: m.UniqueArgs,
	}
	if !m.SendAt.IsZero() {
		at := m.SendAt
		out.SendAt = &at
	}
	if m.DSN != 0 {
		out.DSN = m.DSN.String()
	}
	if m.BounceOf != 0 {
		out.BounceOf = m.BounceOf.String()
	}
	for _, rc := range m.Rcpts {
		out.To = append(out.To, admin.Recipient{Addr: rc.Addr, State: rc.State.String(), Reply: rc.Reply})
	}
	if m.State == spool.Waiting || m.State == spool.Deferred {
		out.ReleaseIn = max(m.Release.Sub(now), 0).Round(time.Second).String()
	}
	if !m.Finished.IsZero() {
		f := m.Finished
		out.Finished = &f
	}
	if in := m.Intent; in != nil {
		out.Pending, out.PendingBy = "hold", in.Actor
		if in.Drop {
			out.Pending = "drop"
		}
	}
	return out
}
