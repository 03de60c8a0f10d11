package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// apiError is an error with what the caller should see. With status 0 it
// only supplies the message, and writeError classifies its cause.
type apiError struct {
	status int
	code   string
	msg    string
	field  string // the request field at fault, for SendGrid's error shape
	err    error  // the cause, for classification and the log
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// invalid is a 400 for a request the handler rejects itself.
func invalid(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: admin.CodeInvalid, msg: fmt.Sprintf(format, args...)}
}

// notFound is a 404 for something the handler looked up itself.
func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: admin.CodeNotFound, msg: fmt.Sprintf(format, args...)}
}

// describe gives err a message fit for the caller, leaving its status to
// writeError.
func describe(err error, format string, args ...any) error {
	return &apiError{msg: fmt.Sprintf(format, args...), err: err}
}

// classify maps an error to a status and a code. It is the only place
// that knows which package errors mean what to a client.
func classify(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) && ae.status != 0 {
		return ae.status, ae.code
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, spool.ErrNotFound):
		return http.StatusNotFound, admin.CodeNotFound
	case errors.Is(err, auth.ErrExists):
		return http.StatusConflict, admin.CodeExists
	case errors.Is(err, auth.ErrInvalidName), errors.Is(err, auth.ErrNegativeDuration),
		errors.Is(err, auth.ErrInvalidSetting), errors.Is(err, spool.ErrEmptySelector):
		return http.StatusBadRequest, admin.CodeInvalid
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, admin.CodeTooLarge
	case errors.Is(err, spool.ErrClosed), errors.Is(err, spool.ErrStorage):
		return http.StatusServiceUnavailable, admin.CodeUnavailable
	}
	return http.StatusInternalServerError, admin.CodeInternal
}

// writeError answers a request with err. Internal details go to the log,
// not to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; relayd's log has the details"
	case http.StatusServiceUnavailable:
		msg = "relayd is shutting down"
		if errors.Is(err, spool.ErrStorage) {
			// A full disk or an I/O error: worth trying again once it
			// is mended, unlike a bug (500).
			s.log.Error("admin request failed: the spool cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
			msg = "the spool cannot write now (disk full or I/O error; relayd's log has the details): try again"
		}
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="relayd"`)
	}
	if sendGridPath(r) {
		var ae *apiError
		field := ""
		if errors.As(err, &ae) {
			field = ae.field
		}
		s.writeSendGridError(w, status, field, msg)
		return
	}
	s.writeJSON(w, status, admin.Error{Error: admin.ErrorBody{Code: code, Message: msg}})
}

// writeJSON answers with v. Responses may hold a password, so no cache
// may keep them.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("admin response not sent", "err", err)
	}
}

// decodeJSON reads r's body into v: one JSON value, at most maxBody bytes,
// no field that v does not have (a typo must not be ignored silently).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return describe(err, "request body larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return invalid("empty request body: want a JSON object")
		}
		return invalid("bad request body: %v", err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		return invalid("bad request body: want a single JSON object")
	}
	return nil
}

// recorder remembers the status written, for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection, to extend a
// slow answer's write deadline.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequest logs one line per request: reads at debug level, changes at
// info, refusals as warnings. Never the body.
func (s *Server) logRequest(r *http.Request, c caller, status int) {
	level := slog.LevelInfo
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		level = slog.LevelWarn
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "admin request", "method", r.Method, "path", r.URL.Path,
		"actor", c.actor, "status", status)
}
