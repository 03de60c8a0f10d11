package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// maxText bounds free text (descriptions, reasons): a label for tables
// and logs, not a document.
const maxText = 256

// maxAllowedSenders bounds a credential's list of allowed senders: an
// application sends as a few addresses or domains, not thousands.
const maxAllowedSenders = 100

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

// getCredential answers GET /v1/credentials/{name}: the credential, its
// messages per state and its pause.
func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	c, ok := s.o.Creds.Get(name)
	if !ok {
		return noCredential(name)
	}
	counts, err := s.o.Spool.Count(spool.Selector{Credential: name})
	if err != nil {
		return fmt.Errorf("credential %s: %w", name, err)
	}
	pauses, err := s.o.Spool.Pauses()
	if err != nil {
		return fmt.Errorf("credential %s: %w", name, err)
	}
	d := admin.CredentialDetails{Credential: toWire(c), Messages: make(map[string]int, len(spool.States))}
	for _, st := range spool.States {
		d.Messages[st.String()] = counts[st]
	}
	for _, p := range pauses {
		if p.Credential == name {
			wp := wirePause(p)
			d.Paused = &wp
		}
	}
	s.writeJSON(w, http.StatusOK, d)
	return nil
}

// addCredential answers POST /v1/credentials with 201 and the new
// password, which nothing else ever sees.
func (s *Server) addCredential(w http.ResponseWriter, r *http.Request) error {
	var req admin.AddCredentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	set := auth.Settings{Description: req.Description, AllowedSenders: req.AllowedSenders,
		MaxMessageSize: req.MaxMessageSize, RateLimit: req.RateLimit,
		Upstream: req.Upstream, UpstreamFallback: req.UpstreamFallback}
	var err error
	if set.Hold, err = parseHold(req.Hold); err != nil {
		return err
	}
	if err := checkSettings(set); err != nil {
		return err
	}
	if err := s.checkRoute(set); err != nil {
		return err
	}
	defer s.credLocks.lock(req.Name)()
	unstage := s.o.Spool.AuditCredential(req.Name, spool.EvCredentialAdded, &spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor,
		Action: "credential add", Selector: "credential=" + req.Name, Detail: settingsDetail(set, allSettings(set))})
	c, password, err := s.o.Creds.Create(req.Name, set)
	unstage()
	switch {
	case errors.Is(err, auth.ErrInvalidName):
		return describe(err, "invalid credential name %q: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", req.Name)
	case errors.Is(err, auth.ErrExists):
		return describe(err, "credential %q already exists", req.Name)
	case err != nil:
		return settingError(err)
	}
	s.writeJSON(w, http.StatusCreated, admin.CredentialCreated{Credential: toWire(c), Password: password, APIKey: auth.APIKey(c.Name, password)})
	return nil
}

// updateCredential answers PATCH /v1/credentials/{name}: it changes the
// settings named and keeps the rest, under the credential's lock so that
// two changes to different settings both stay.
func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req admin.UpdateCredentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkText("reason", req.Reason); err != nil {
		return err
	}
	defer s.credLocks.lock(name)()
	c, ok := s.o.Creds.Get(name)
	if !ok {
		return noCredential(name)
	}
	set, changed, err := applyUpdate(auth.SettingsOf(c), req)
	if err != nil {
		return err
	}
	if len(changed) == 0 {
		return invalid("nothing to change: give at least one setting")
	}
	if err := checkSettings(set); err != nil {
		return err
	}
	if err := s.checkRoute(set); err != nil {
		return err
	}
	unstage := s.o.Spool.AuditCredential(name, "", &spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor,
		Action: "credential set", Selector: "credential=" + name, Reason: req.Reason, Detail: settingsDetail(set, changed)})
	c, err = s.o.Creds.Update(name, set)
	unstage()
	if err != nil {
		return settingError(err)
	}
	s.writeJSON(w, http.StatusOK, toWire(c))
	return nil
}

// Settings by the names relayctl's flags give them, for audit details.
const (
	setDescription    = "description"
	setHold           = "hold"
	setAllowedSenders = "allowed-senders"
	setMaxSize        = "max-size"
	setRateLimit      = "rate-limit"
	setUpstream       = "upstream"
	setFallback       = "upstream-fallback"
	setBrakeDup       = "brake-duplicates"
	setBrakeRate      = "brake-rate"
)

// applyUpdate changes set as req asks and names the settings it changed.
func applyUpdate(set auth.Settings, req admin.UpdateCredentialRequest) (auth.Settings, []string, error) {
	var changed []string
	if req.Description != nil {
		set.Description = *req.Description
		changed = append(changed, setDescription)
	}
	if req.Hold != nil {
		hold, err := parseHold(req.Hold)
		if err != nil {
			return set, nil, err
		}
		set.Hold = hold
		changed = append(changed, setHold)
	}
	if req.AllowedSenders != nil {
		set.AllowedSenders = *req.AllowedSenders
		changed = append(changed, setAllowedSenders)
	}
	if req.MaxMessageSize != nil {
		set.MaxMessageSize = *req.MaxMessageSize
		changed = append(changed, setMaxSize)
	}
	if req.RateLimit != nil {
		set.RateLimit = *req.RateLimit
		changed = append(changed, setRateLimit)
	}
	var err error
	if req.BrakeDuplicates != nil {
		if set.BrakeDuplicates, err = parseBrake("brake_duplicates", *req.BrakeDuplicates, auth.MaxBrakeDuplicates); err != nil {
			return set, nil, err
		}
		changed = append(changed, setBrakeDup)
	}
	if req.BrakeRate != nil {
		if set.BrakeRate, err = parseBrake("brake_rate", *req.BrakeRate, auth.MaxBrakeRate); err != nil {
			return set, nil, err
		}
		changed = append(changed, setBrakeRate)
	}
	if req.Upstream != nil {
		set.Upstream = upstreamSetting(*req.Upstream)
		changed = append(changed, setUpstream)
	}
	if req.UpstreamFallback != nil {
		set.UpstreamFallback = upstreamSetting(*req.UpstreamFallback)
		changed = append(changed, setFallback)
	}
	return set, changed, nil
}

// parseBrake reads a brake threshold: a whole number from 0 (the trigger
// off) to max, or "default" (nil: relayd's global threshold).
func parseBrake(field, text string, max int) (*int, error) {
	if text == admin.BrakeDefault {
		return nil, nil
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 || n > max {
		return nil, invalid("%s %q: want a whole number from 0 (off) to %d, or %q for relayd's", field, text, max, admin.BrakeDefault)
	}
	return &n, nil
}

// allSettings names the settings of a new credential that differ from
// the defaults.
func allSettings(set auth.Settings) []string {
	var names []string
	if set.Description != "" {
		names = append(names, setDescription)
	}
	if set.Hold != nil {
		names = append(names, setHold)
	}
	if len(set.AllowedSenders) > 0 {
		names = append(names, setAllowedSenders)
	}
	if set.MaxMessageSize != 0 {
		names = append(names, setMaxSize)
	}
	if set.RateLimit != 0 {
		names = append(names, setRateLimit)
	}
	if set.Upstream != "" {
		names = append(names, setUpstream)
	}
	if set.UpstreamFallback != "" {
		names = append(names, setFallback)
	}
	return names
}

// maxShownSenders bounds the allowed senders an audit entry spells out.
const maxShownSenders = 5

// settingsDetail renders the named settings of set for the audit log:
// `hold=0s rate-limit=10 description="web shop"`.
func settingsDetail(set auth.Settings, names []string) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		var v string
		switch n {
		case setDescription:
			v = strconv.Quote(set.Description)
		case setHold:
			v = admin.HoldDefault
			if set.Hold != nil {
				v = set.Hold.String()
			}
		case setAllowedSenders:
			v = "any"
			if a := set.AllowedSenders; len(a) > 0 {
				v = strings.Join(a[:min(len(a), maxShownSenders)], ",")
			}
			if n := len(set.AllowedSenders) - maxShownSenders; n > 0 {
				v += fmt.Sprintf(" (+%d more)", n)
			}
		case setMaxSize:
			v = strconv.FormatInt(set.MaxMessageSize, 10)
		case setRateLimit:
			v = strconv.Itoa(set.RateLimit)
		case setUpstream:
			v = routeText(set.Upstream)
		case setFallback:
			v = routeText(set.UpstreamFallback)
		case setBrakeDup:
			v = brakeText(set.BrakeDuplicates)
		case setBrakeRate:
			v = brakeText(set.BrakeRate)
		}
		parts = append(parts, n+"="+v)
	}
	return strings.Join(parts, " ")
}

func brakeText(p *int) string {
	if p == nil {
		return admin.BrakeDefault
	}
	return strconv.Itoa(*p)
}

// checkSettings refuses, in the caller's terms, what auth would refuse
// in its own; auth checks again.
func checkSettings(set auth.Settings) error {
	switch {
	case set.Hold != nil && *set.Hold < 0:
		return invalid("hold %s: must not be negative", set.Hold)
	case set.MaxMessageSize < 0:
		return invalid("max_message_size %d: must not be negative (0: relayd's limit)", set.MaxMessageSize)
	case set.RateLimit < 0:
		return invalid("rate_limit %d: must not be negative (0: no limit)", set.RateLimit)
	case len(set.AllowedSenders) > maxAllowedSenders:
		return invalid("%d allowed senders: at most %d; allow a whole @domain instead", len(set.AllowedSenders), maxAllowedSenders)
	}
	return checkText("description", set.Description)
}

// settingError words auth's refusal of a setting without auth's prefix:
// "allowed sender "x": want an address or @domain".
func settingError(err error) error {
	if !errors.Is(err, auth.ErrInvalidSetting) && !errors.Is(err, auth.ErrNegativeDuration) {
		return err
	}
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		msg = inner.Error()
	}
	for _, sentinel := range []error{auth.ErrInvalidSetting, auth.ErrNegativeDuration} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
	}
	return describe(err, "%s", msg)
}

func noCredential(name string) error {
	return notFound("no credential %q", name)
}

// parseHold reads an optional hold window; nil (and "default") means the
// global one.
func parseHold(text *string) (*time.Duration, error) {
	if text == nil || *text == admin.HoldDefault {
		return nil, nil
	}
	d, err := time.ParseDuration(*text)
	if err != nil {
		return nil, invalid("hold %q: want a duration such as 0s, 30s or 5m, or %q for relayd's", *text, admin.HoldDefault)
	}
	if d < 0 {
		return nil, invalid("hold %s: must not be negative", *text)
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
// grace time as null, no allowed senders as [].
func toWire(c auth.Credential) admin.Credential {
	out := admin.Credential{
		Name:             c.Name,
		Description:      c.Description,
		Created:          c.Created,
		Disabled:         c.Disabled,
		PasswordChanged:  c.PasswordChanged,
		AllowedSenders:   slices.Clone(c.AllowedSenders),
		MaxMessageSize:   c.MaxMessageSize,
		RateLimit:        c.RateLimit,
		Upstream:         redactUpstream(c.Upstream),
		UpstreamFallback: redactUpstream(c.UpstreamFallback),
		BrakeDuplicates:  c.BrakeDuplicates,
		BrakeRate:        c.BrakeRate,
	}
	if out.AllowedSenders == nil {
		out.AllowedSenders = []string{}
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
