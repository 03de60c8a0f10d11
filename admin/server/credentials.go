package server

import (
	"errors"
	"net/http"
	"time"
	"unicode"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
)

// maxDescription bounds a credential's description: it is a label for
// tables, not a document.
const maxDescription = 256

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
	if err := checkDescription(req.Description); err != nil {
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

// checkDescription keeps descriptions printable on one table row.
func checkDescription(d string) error {
	if len(d) > maxDescription {
		return invalid("description longer than %d bytes", maxDescription)
	}
	for _, r := range d {
		if unicode.IsControl(r) {
			return invalid("description: no control characters or line breaks, please")
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
