package webhook

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Formats of the request body and signature.
const (
	FormatStandard = "standard" // Standard Webhooks; the default
	FormatSendGrid = "sendgrid" // SendGrid's Event Webhook
)

// secretPrefix marks a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// Endpoint is one webhook subscription.
type Endpoint struct {
	Name   string
	URL    string
	Format string // FormatStandard (also when empty) or FormatSendGrid
	// Events are the types, or prefixes such as "message.*", sent to the
	// endpoint; empty means all.
	Events []string
	// Secret is the HMAC key of the standard format: the decoded bytes,
	// not the whsec_ string.
	Secret []byte
	// PrivateKey signs the SendGrid format.
	PrivateKey *ecdsa.PrivateKey
	Disabled   bool
}

// Match reports whether the endpoint subscribes to events of type typ.
func (ep *Endpoint) Match(typ string) bool {
	if len(ep.Events) == 0 {
		return true
	}
	for _, f := range ep.Events {
		if f == typ || f == "*" {
			return true
		}
		if group, ok := strings.CutSuffix(f, "*"); ok && strings.HasPrefix(typ, group) {
			return true
		}
	}
	return false
}

// wants reports whether the event goes to this endpoint: a targeted event
// only to its target, others as the filter and the format allow.
func (ep *Endpoint) wants(e *Event) bool {
	if e.Endpoint != "" {
		return e.Endpoint == ep.Name && ep.carries(e.Type)
	}
	return ep.Match(e.Type) && ep.carries(e.Type)
}

// carries reports whether the endpoint's format can express typ: SendGrid's
// has no words for the relay's administrative events.
func (ep *Endpoint) carries(typ string) bool {
	if ep.Format != FormatSendGrid {
		return true
	}
	_, ok := sendGridEvents[typ]
	return ok || typ == WebhookTest
}

// Validate checks the endpoint before it is stored or used.
func (ep *Endpoint) Validate() error {
	if ep.Name == "" {
		return errors.New("webhook name is empty")
	}
	if err := checkURL(ep.URL); err != nil {
		return err
	}
	for _, f := range ep.Events {
		if !validFilter(f) {
			return fmt.Errorf("unknown event type %q (types: %s; or a prefix such as message.*)", f, strings.Join(Types, ", "))
		}
	}
	switch ep.Format {
	case "", FormatStandard:
		if len(ep.Secret) == 0 {
			return errors.New("webhook has no signing secret")
		}
	case FormatSendGrid:
		if ep.PrivateKey == nil {
			return errors.New("webhook has no signing key")
		}
	default:
		return fmt.Errorf("unknown webhook format %q (want %s or %s)", ep.Format, FormatStandard, FormatSendGrid)
	}
	return nil
}

// checkURL accepts an http:// or https:// URL with a host. Its errors
// never quote the URL: a webhook's often holds a token, and they reach
// logs.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("webhook url: %w", withoutURL(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("webhook url: the scheme is not http or https: want http:// or https:// and a host")
	case u.Host == "":
		return errors.New("webhook url: no host: want http:// or https:// and a host")
	}
	return nil
}

// withoutURL returns err without the URL that net/url and net/http put in
// their errors (*url.Error), for the same reason.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// validFilter accepts a known type, "*", or "<group>.*" for a group that
// has at least one known type.
func validFilter(f string) bool {
	if f == "*" || slices.Contains(Types, f) {
		return true
	}
	group, ok := strings.CutSuffix(f, ".*")
	return ok && group != "" && slices.ContainsFunc(Types, func(t string) bool {
		return strings.HasPrefix(t, group+".")
	})
}

// equal reports whether a sender for ep would behave exactly as one for o.
func (ep *Endpoint) equal(o *Endpoint) bool {
	return ep.Name == o.Name && ep.URL == o.URL && ep.Format == o.Format &&
		slices.Equal(ep.Events, o.Events) && bytes.Equal(ep.Secret, o.Secret) &&
		(ep.PrivateKey == o.PrivateKey || ep.PrivateKey != nil && ep.PrivateKey.Equal(o.PrivateKey)) &&
		ep.Disabled == o.Disabled
}

// NewSecret makes a signing secret for the standard format: the key bytes
// for Endpoint.Secret, and the whsec_ form shown to the operator once.
func NewSecret() (key []byte, shown string) {
	key = make([]byte, 32)
	rand.Read(key) // never fails: see crypto/rand.Read
	return key, secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParseSecret turns the whsec_ form back into key bytes.
func ParseSecret(shown string) ([]byte, error) {
	b64, ok := strings.CutPrefix(shown, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook secret does not start with %s", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	return key, nil
}

// NewKey makes a signing key for the SendGrid format, and the public key
// shown to the operator once: the base64 of its PKIX DER, the form
// SendGrid's verification libraries take.
func NewKey() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("webhook key: %w", err)
	}
	pub, err := PublicKey(key)
	return key, pub, err
}

// PublicKey returns the base64 PKIX DER form of key's public half.
func PublicKey(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", fmt.Errorf("webhook public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
