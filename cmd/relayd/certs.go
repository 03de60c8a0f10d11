package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// certStore holds the TLS certificate every TLS listener serves (STARTTLS
// and --smtps-listen). Listeners take it through GetCertificate at each
// handshake, so a reload swaps it without closing a listener: a client
// connecting at that moment gets the old certificate or the new one,
// never a refused connection.
type certStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// newCertStore loads the pair; nil, nil without --tls-cert.
func newCertStore(cfg config) (*certStore, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	s := &certStore{certFile: cfg.TLSCert, keyFile: cfg.TLSKey}
	c, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	return s, nil
}

// load reads the pair from its files without putting it in force. A key
// that does not match its certificate, or a file that cannot be read or
// parsed, is an error.
func (s *certStore) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s, key %s: %w", s.certFile, s.keyFile, err)
	}
	if c.Leaf == nil { // Go fills it in since 1.23; this keeps the rest simple
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", s.certFile, err)
		}
	}
	return &c, nil
}

func (s *certStore) set(c *tls.Certificate) { s.cur.Store(c) }

// current is the certificate in force.
func (s *certStore) current() *tls.Certificate { return s.cur.Load() }

// notAfter is when the certificate in force expires.
func (s *certStore) notAfter() time.Time { return s.current().Leaf.NotAfter }

// tlsConfig is the configuration of every TLS listener; nil without a
// certificate (no STARTTLS, no --smtps-listen).
func (s *certStore) tlsConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current(), nil
		},
	}
}

// certAttrs names a certificate for the log: subject, serial, expiry.
func certAttrs(c *tls.Certificate) []any {
	return []any{"cert_subject", c.Leaf.Subject.String(), "cert_serial", c.Leaf.SerialNumber.Text(16),
		"cert_not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339)}
}
