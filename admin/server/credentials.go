package server

import (
	"errors"
	"net/http"
	"time"
	"unicode"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// maxText bounds free text (descriptions, reasons): a label for tables
// and logs, not a document.
const maxText = 256

// listCredentials answers GET /v1/credentials, sorted by name.
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	list := s.o.Creds.List()
	out := make([]admin.Credential, 0, len(list))
	for _, c := range list {
		out = append(out, toWire(c))
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// addCredential answers POST /v1/credentials with 201 and the new
// password, which nothing else ever sees.
func (s *Server) addCredential(w http.ResponseWriter, r *http.Request) error {
	var req admin.AddCredentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	hold, err := parseHold(req.Hold)
	if err != nil {
		return err
	}
	if err := checkText("description", req.Description); err != nil {
		return err
	}
	c, password, err := s.o.Creds.Add(req.Name, req.Description, hold)
	switch {
	case errors.Is(err, auth.ErrInvalidName):
		return describe(err, "invalid credential name %q: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", req.Name)
	case errors.Is(err, auth.ErrExists):
		return describe(err, "credential %q already exists", req.Name)
	case errors.Is(err, auth.ErrNegativeDuration):
		return describe(err, "hold %s: must not be negative", *req.Hold)
	case err != nil:
		return err
	}
	s.audit(spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor, Action: "credential add", Selector: "credential=" + c.Name})
	s.writeJSON(w, http.StatusCreated, admin.CredentialCreated{Credential: toWire(c), Password: password})
	return nil
}

// parseHold reads an optional hold window; nil means the global one.
func parseHold(text *string) (*time.Duration, error) {
	if text == nil {
		return nil, nil
	}
	d, err := time.ParseDuration(*text)
	if err != nil {
		return nil, invalid("hold %q: want a duration such as 0s, 30s or 5m", *text)
	}
	return &d, nil
}

// checkText keeps free text printable on one table row.
func checkText(field, text string) error {
	if len(text) > maxText {
		return invalid("%s longer than %d bytes", field, maxText)
	}
	for _, r := range text {
		if unicode.IsControl(r) {
			return invalid("%s: no control characters or line breaks, please", field)
		}
	}
	return nil
}

// toWire converts a credential for the API: durations as text, a zero
// grace time as null.
func toWire(c auth.Credential) admin.Credential {
	out := admin.Credential{
		Name:            c.Name,
		Description:     c.Description,
		Created:         c.Created,
		Disabled:        c.Disabled,
		PasswordChanged: c.PasswordChanged,
	}
	if c.Hold != nil {
		h := c.Hold.String()
		out.Hold = &h
	}
	if !c.GraceUntil.IsZero() {
		g := c.GraceUntil
		out.GraceUntil = &g
	}
	return out
}
