package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

// SendGrid's Cancel Scheduled Sends API, in its request and response
// shapes, so that a client written for SendGrid works unchanged against
// relayd (its API key becomes one of relayd's tokens, sent the same way:
// "Authorization: Bearer ..."). Errors use SendGrid's body:
// {"errors": [{"field": ..., "message": ...}]}. Unlike SendGrid's, any
// number of batches may be paused or cancelled, at any time.
//
//	POST   /v3/mail/batch                       201 {"batch_id"}
//	GET    /v3/mail/batch/{batch_id}            200 {"batch_id"}; 400 if unknown
//	POST   /v3/user/scheduled_sends             201 {"batch_id", "status"}
//	GET    /v3/user/scheduled_sends             200 [{"batch_id", "status"}]
//	GET    /v3/user/scheduled_sends/{batch_id}  200 [{"batch_id", "status"}]; 404 if unknown
//	PATCH  /v3/user/scheduled_sends/{batch_id}  204; 404 if it has no status
//	DELETE /v3/user/scheduled_sends/{batch_id}  204; 404 if it has no status

type sgBatchID struct {
	BatchID string `json:"batch_id"`
}

type sgScheduledSend struct {
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
}

type sgErrors struct {
	Errors []sgError `json:"errors"`
}

type sgError struct {
	Field   *string `json:"field"`
	Message string  `json:"message"`
}

// sendGridPath reports whether a request is for the SendGrid endpoints,
// whose errors take SendGrid's shape.
func sendGridPath(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v3/") }

// fieldError is a 400 naming the request field at fault.
func fieldError(field, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: admin.CodeInvalid, field: field, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeSendGridError(w http.ResponseWriter, status int, field, msg string) {
	e := sgError{Message: msg}
	if field != "" {
		e.Field = &field
	}
	s.writeJSON(w, status, sgErrors{Errors: []sgError{e}})
}

// sgCreateBatch answers POST /v3/mail/batch.
func (s *Server) sgCreateBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := s.newBatch(r, "")
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, sgBatchID{BatchID: b.ID})
	return nil
}

// sgValidateBatch answers GET /v3/mail/batch/{batch_id}: 200 for a batch
// relayd knows, 400 as SendGrid answers an invalid ID.
func (s *Server) sgValidateBatch(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("batch_id")
	if !smtpapi.ValidBatchID(id) {
		return fieldError("", "invalid batch id")
	}
	if _, err := s.o.Spool.GetBatch(id); errors.Is(err, spool.ErrNoBatch) {
		return fieldError("", "invalid batch id")
	} else if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, sgBatchID{BatchID: id})
	return nil
}

// sgStatus parses SendGrid's status word.
func sgStatus(v string) (spool.BatchStatus, error) {
	switch v {
	case "pause":
		return spool.BatchPaused, nil
	case "cancel":
		return spool.BatchCancelled, nil
	}
	return "", fieldError("status", "status must be either pause or cancel")
}

// sgDecode reads a SendGrid request body, naming the field at fault.
func sgDecode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return fieldError("", "request body is invalid JSON: %v", err)
	}
	return nil
}

// sgCreateScheduledSend answers POST /v3/user/scheduled_sends. A batch
// that already has a status gets the new one.
func (s *Server) sgCreateScheduledSend(w http.ResponseWriter, r *http.Request) error {
	var req sgScheduledSend
	if err := sgDecode(w, r, &req); err != nil {
		return err
	}
	if req.BatchID == "" {
		return fieldError("batch_id", "batch_id is required")
	}
	if !smtpapi.ValidBatchID(req.BatchID) {
		return fieldError("batch_id", "invalid batch id")
	}
	st, err := sgStatus(req.Status)
	if err != nil {
		return err
	}
	if _, err := s.setBatch(r, req.BatchID, st, "", false); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, req)
	return nil
}

// sgListScheduledSends answers GET /v3/user/scheduled_sends: every batch
// paused or cancelled.
func (s *Server) sgListScheduledSends(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.o.Spool.Batches(true)
	if err != nil {
		return fmt.Errorf("list batches: %w", err)
	}
	out := make([]sgScheduledSend, 0, len(bs))
	for _, b := range bs {
		out = append(out, sgScheduledSend{BatchID: b.ID, Status: string(b.Status)})
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// sgBatch looks up the {batch_id} of a path: 404 for an unknown batch,
// and, with needStatus, for one that is neither paused nor cancelled.
func (s *Server) sgBatch(r *http.Request, needStatus bool) (spool.Batch, error) {
	id := r.PathValue("batch_id")
	if !smtpapi.ValidBatchID(id) {
		return spool.Batch{}, fieldError("batch_id", "invalid batch id")
	}
	b, err := s.o.Spool.GetBatch(id)
	switch {
	case errors.Is(err, spool.ErrNoBatch), err == nil && needStatus && b.Status == spool.BatchActive:
		return b, notFound("batch id not found")
	case err != nil:
		return b, err
	}
	return b, nil
}

// sgGetScheduledSend answers GET /v3/user/scheduled_sends/{batch_id}: a
// list, as SendGrid's is, empty for a batch without a status.
func (s *Server) sgGetScheduledSend(w http.ResponseWriter, r *http.Request) error {
	b, err := s.sgBatch(r, false)
	if err != nil {
		return err
	}
	out := []sgScheduledSend{}
	if b.Status != spool.BatchActive {
		out = append(out, sgScheduledSend{BatchID: b.ID, Status: string(b.Status)})
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// sgUpdateScheduledSend answers PATCH /v3/user/scheduled_sends/{batch_id}.
func (s *Server) sgUpdateScheduledSend(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := sgDecode(w, r, &req); err != nil {
		return err
	}
	st, err := sgStatus(req.Status)
	if err != nil {
		return err
	}
	b, err := s.sgBatch(r, true)
	if err != nil {
		return err
	}
	if _, err := s.setBatch(r, b.ID, st, "", false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sgDeleteScheduledSend answers DELETE /v3/user/scheduled_sends/{batch_id}:
// the pause or cancel is lifted. Messages a cancel dropped stay dropped.
func (s *Server) sgDeleteScheduledSend(w http.ResponseWriter, r *http.Request) error {
	b, err := s.sgBatch(r, true)
	if err != nil {
		return err
	}
	if _, err := s.setBatch(r, b.ID, spool.BatchActive, "", false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
