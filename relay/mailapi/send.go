package mailapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/holdrelay/relay/internal/names"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// send answers POST /v3/mail/send: 202 once every message of the request
// is in the spool, 200 in sandbox mode with nothing sent, or an error
// with nothing kept.
func (s *Server) send(w http.ResponseWriter, r *http.Request, c *caller) error {
	msgMax := s.in.MaxMessageBytes()
	if m := c.cred.MaxMessageSize; m > 0 && m < msgMax {
		msgMax = m
	}
	limit := requestLimit(msgMax)
	expect := limit
	if r.ContentLength > 0 && r.ContentLength < limit {
		expect = r.ContentLength
	}
	// The body, and the messages built from it; capped at what a message
	// of the largest size takes over SMTP, which --max-inflight-bytes is
	// sure to allow.
	release, ok := s.in.Reserve(min(2*expect, relay.MinInflightBytes(s.in.MaxMessageBytes())))
	if !ok {
		e := fail(http.StatusServiceUnavailable, "", "relay is busy receiving other mail; try again shortly")
		e.header = map[string]string{"Retry-After": "5"}
		return e
	}
	defer release()
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	p, errs := parse(body, now, s.in.MaxRecipients())
	if errs != nil {
		return &apiError{status: http.StatusBadRequest, errs: errs}
	}
	subs, err := s.prepare(p, c, now, msgMax, limit)
	if err != nil {
		return err
	}
	if p.sandbox {
		w.WriteHeader(http.StatusOK) // SendGrid: 200 with no body, nothing sent
		return nil
	}
	return s.submit(w, c, subs)
}

// submit spools the messages of a request in one transaction, under the
// credential's rate limit.
func (s *Server) submit(w http.ResponseWriter, c *caller, subs []relay.Submission) error {
	if lim := c.cred.RateLimit; lim > 0 && len(subs) > lim {
		// More than a whole minute's allowance: a 429 would have the
		// client retry for ever.
		return fail(http.StatusBadRequest, "personalizations", fmt.Sprintf(
			"This request makes %d messages; the credential may send at most %d a minute: split it into smaller requests.", len(subs), lim))
	}
	if !s.in.TakeRate(&c.cred, len(subs)) {
		e := fail(http.StatusTooManyRequests, "", "too many requests")
		e.header = map[string]string{"Retry-After": "60", "X-RateLimit-Limit": strconv.Itoa(c.cred.RateLimit)}
		return e
	}
	// A key rotated away or a credential disabled since the login sends
	// nothing more.
	if _, ok := s.in.LoginValid(c.login); !ok {
		return errBadKey
	}
	ms, err := s.in.Submit(subs)
	if err != nil {
		s.log.Error("spool refused a request", "remote", c.remote, "credential", c.cred.Name, "messages", len(subs), "err", err)
		return fail(http.StatusServiceUnavailable, "", "relay could not store the request; nothing of it was kept: try again later")
	}
	w.Header().Set("X-Message-Id", ms[0].ID.String())
	if len(ms) > 1 {
		ids := make([]string, len(ms))
		for i := range ms {
			ids[i] = ms[i].ID.String()
		}
		w.Header().Set("X-Relay-Message-Ids", strings.Join(ids, ", "))
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// requestLimit is the largest request body for messages of at most
// msgMax bytes: base64 makes attachments a third larger, and a request may
// carry a message of the largest size and its JSON around it.
func requestLimit(msgMax int64) int64 { return 2*msgMax + slack }

// prepare builds every message of the request and checks it against the
// credential's rules, as SMTP checks its messages: nothing is spooled
// unless every one passes. The messages together may not exceed limit,
// the bound of the request itself: each personalization is a whole copy
// of the content and attachments, so without it a request within its own
// bound could build a thousand messages of the largest size in memory
// and in one spool transaction.
func (s *Server) prepare(p *parsed, c *caller, now time.Time, msgMax, limit int64) ([]relay.Submission, error) {
	trace := s.received(c, now)
	subs := make([]relay.Submission, len(p.drafts))
	var total int64
	for i := range p.drafts {
		d := &p.drafts[i]
		if err := relay.CheckSender(&c.cred, d.from.Email); err != nil {
			return nil, forbiddenSender("from.email")
		}
		msg, err := build(d, trace, now, s.in.Hostname())
		if err != nil {
			return nil, fail(http.StatusBadRequest, "headers", err.Error())
		}
		if int64(len(msg)-len(trace)) > msgMax {
			return nil, tooLarge(msgMax)
		}
		if total += int64(len(msg)); total > limit {
			return nil, fail(http.StatusRequestEntityTooLarge, "personalizations",
				"The messages of this request would total more than "+strconv.FormatInt(limit, 10)+
					" bytes (each personalization is a copy of the content and attachments): split it into several requests.")
		}
		switch err := relay.CheckMessage(&c.cred, msg[len(trace):]); {
		case errors.Is(err, relay.ErrTooLarge):
			return nil, tooLarge(msgMax)
		case err != nil:
			return nil, forbiddenSender("from.email")
		}
		subs[i] = relay.Submission{Cred: &c.cred, From: d.from.Email, To: d.rcpts, Message: msg,
			Trace: len(trace), Options: d.opts, Via: "http"}
	}
	return subs, nil
}

func forbiddenSender(field string) error {
	return fail(http.StatusForbidden, field, "The from address is not one this credential may send as (relayctl credential show: allowed senders).")
}

// received is the trace header RFC 5321 section 4.4 asks of a relay.
func (s *Server) received(c *caller, now time.Time) []byte {
	proto := "HTTP"
	if s.tls {
		proto = "HTTPS"
	}
	return s.in.TraceHeader("mail-api-client", c.remote, proto, now)
}

type batchID struct {
	BatchID string `json:"batch_id"`
}

// createBatch answers POST /v3/mail/batch: 201 {"batch_id"}, a new batch
// registered before its first message (an announced bulk send).
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, c *caller) error {
	for range 3 {
		b, err := s.in.CreateBatch(c.cred.Name, names.NewBatchID())
		if errors.Is(err, spool.ErrBatchExists) {
			continue
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, batchID{BatchID: b.ID})
		return nil
	}
	return errors.New("create batch: three random IDs taken")
}

// getBatch answers GET /v3/mail/batch/{batch_id}: 200 for a batch relay
// knows, 400 as SendGrid answers an invalid one.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id := r.PathValue("batch_id")
	if !names.BatchID(id) {
		return fail(http.StatusBadRequest, "", "invalid batch id")
	}
	if _, err := s.in.Batch(id); errors.Is(err, spool.ErrNoBatch) {
		return fail(http.StatusBadRequest, "", "invalid batch id")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, batchID{BatchID: id})
	return nil
}
