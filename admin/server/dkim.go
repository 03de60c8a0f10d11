package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/spool"
)

// LoadDKIM reads every stored key into ring. relayd's start-up uses it
// too, so that both read what the spool stores the same way. A key that
// cannot be parsed is left out and named in the error; the others sign.
func LoadDKIM(sp *spool.Spool, ring *dkim.Keyring) error {
	stored, err := sp.DKIMKeys()
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	keys := make([]dkim.Key, 0, len(stored))
	var errs []error
	for _, k := range stored {
		key, err := dkim.NewKey(k.Domain, k.Selector, k.PrivateKey)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, key)
	}
	ring.Set(keys)
	return errors.Join(errs...)
}

// listDKIM answers GET /v1/dkim: every key with its DNS record.
func (s *Server) listDKIM(w http.ResponseWriter, r *http.Request) error {
	stored, err := s.o.Spool.DKIMKeys()
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	out := make([]admin.DKIMKey, 0, len(stored))
	for _, k := range stored {
		wk, err := wireDKIM(k)
		if err != nil {
			return err
		}
		out = append(out, wk)
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// addDKIM answers POST /v1/dkim with 201 and the new key's DNS record.
// The private key is made here and stays in the spool.
func (s *Server) addDKIM(w http.ResponseWriter, r *http.Request) error {
	var req admin.AddDKIMRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	domain, err := dkim.NormalizeDomain(req.Domain)
	if err != nil {
		return invalid("%v", err)
	}
	if req.Selector == "" {
		req.Selector = dkim.DefaultSelector(s.now())
	}
	sel, err := dkim.NormalizeSelector(req.Selector)
	if err != nil {
		return invalid("%v", err)
	}
	if req.Algorithm == "" {
		req.Algorithm = dkim.RSA
	}
	if req.Algorithm != dkim.RSA && req.Algorithm != dkim.Ed25519 {
		return invalid("unknown algorithm %q (want %s or %s)", req.Algorithm, dkim.RSA, dkim.Ed25519)
	}
	der, err := dkim.Generate(req.Algorithm)
	if err != nil {
		return err
	}
	k := spool.DKIMKey{Domain: domain, Selector: sel, Algorithm: req.Algorithm, PrivateKey: der,
		Created: s.now().UTC(), CreatedBy: callerOf(r).actor}
	s.dkimMu.Lock()
	defer s.dkimMu.Unlock()
	err = s.o.Spool.AddDKIMKey(k, s.dkimAudit("dkim add", r, domain, sel, "algorithm="+req.Algorithm))
	if errors.Is(err, spool.ErrExists) {
		return &apiError{status: http.StatusConflict, code: admin.CodeExists, err: err,
			msg: fmt.Sprintf("%s already has a key with selector %q: choose another with --selector, or remove that one first", domain, sel)}
	}
	if err != nil {
		return fmt.Errorf("dkim add %s: %w", domain, err)
	}
	s.reloadDKIM()
	out, err := wireDKIM(k)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, out)
	return nil
}

// removeDKIM answers DELETE /v1/dkim/{domain}[?selector=S]. Without a
// selector it removes the domain's only key, and refuses to guess among
// several.
func (s *Server) removeDKIM(w http.ResponseWriter, r *http.Request) error {
	domain, err := dkim.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		return invalid("%v", err)
	}
	s.dkimMu.Lock()
	defer s.dkimMu.Unlock()
	sel := r.URL.Query().Get("selector")
	if sel == "" {
		if sel, err = s.onlySelector(domain); err != nil {
			return err
		}
	}
	err = s.o.Spool.RemoveDKIMKey(domain, sel, s.dkimAudit("dkim rm", r, domain, sel, ""))
	if errors.Is(err, spool.ErrNotFound) {
		return notFound("no dkim key %q for %s", sel, domain)
	}
	if err != nil {
		return fmt.Errorf("dkim rm %s: %w", domain, err)
	}
	s.reloadDKIM()
	s.writeJSON(w, http.StatusOK, admin.DKIMRemoved{Domain: domain, Selector: sel})
	return nil
}

func (s *Server) onlySelector(domain string) (string, error) {
	stored, err := s.o.Spool.DKIMKeys()
	if err != nil {
		return "", fmt.Errorf("dkim keys: %w", err)
	}
	var sels []string
	for _, k := range stored {
		if k.Domain == domain {
			sels = append(sels, k.Selector)
		}
	}
	switch len(sels) {
	case 0:
		return "", notFound("no dkim key for %s", domain)
	case 1:
		return sels[0], nil
	}
	return "", invalid("%s has %d keys (selectors %s): give --selector", domain, len(sels), strings.Join(sels, ", "))
}

// ReloadDKIM puts the stored keys in the signing keyring again, for a
// spool that other relayd nodes change too; in turn with the changes made
// here, so that it never puts back a key a removal here took out.
func (s *Server) ReloadDKIM() error {
	if s.o.DKIM == nil {
		return nil
	}
	s.dkimMu.Lock()
	defer s.dkimMu.Unlock()
	return LoadDKIM(s.o.Spool, s.o.DKIM)
}

// reloadDKIM puts the stored keys in the signing keyring. The change is
// stored already: a key that cannot be read is relayd's to log.
func (s *Server) reloadDKIM() {
	if s.o.DKIM == nil {
		return
	}
	if err := LoadDKIM(s.o.Spool, s.o.DKIM); err != nil {
		s.log.Error("dkim keys not all loaded", "err", err)
	}
}

func (s *Server) dkimAudit(action string, r *http.Request, domain, sel, detail string) *spool.AuditEntry {
	return &spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor, Action: action,
		Selector: "dkim=" + sel + "._domainkey." + domain, Detail: detail}
}

func wireDKIM(k spool.DKIMKey) (admin.DKIMKey, error) {
	rec, err := dkim.Record(k.PrivateKey)
	if err != nil {
		return admin.DKIMKey{}, fmt.Errorf("dkim key %s for %s: %w", k.Selector, k.Domain, err)
	}
	return admin.DKIMKey{Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm,
		Created: k.Created, CreatedBy: k.CreatedBy, Name: dkim.RecordName(k.Selector, k.Domain),
		Record: rec, Zone: dkim.ZoneLine(k.Selector, k.Domain, rec)}, nil
}
