// Package dkim signs outgoing mail with DKIM (RFC 6376, and RFC 8463 for
// Ed25519) and makes the keys it signs with. The spool keeps the keys as
// opaque PKCS#8 bytes; this package is the only one that reads them.
//
// Invariants:
//   - A private key never leaves the process: what this package shows of a
//     key is its DNS record, derived from the private key when asked.
//   - Signing is relaxed/relaxed over the header fields RFC 6376 §5.4.1
//     recommends that the message has, with From signed once more than it
//     appears, so that a second From cannot be added afterwards.
//   - A message that already carries a signature for a domain and selector
//     is not signed again with that key.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/holdrelay/relay/internal/names"
)

// Algorithms a key may have.
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// rsaBits is the size of the RSA keys Generate makes: RFC 8301 requires
// at least 1024 and recommends 2048; larger keys do not fit in one DNS
// TXT string at some providers.
const rsaBits = 2048

// Generate makes a new private key of the algorithm ("" is RSA) and
// returns it as PKCS#8 DER, the form the spool stores.
func Generate(algorithm string) ([]byte, error) {
	var key crypto.Signer
	var err error
	switch algorithm {
	case RSA, "":
		key, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unknown algorithm %q (want %s or %s)", algorithm, RSA, Ed25519)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", algorithm, err)
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

// parseKey reads a PKCS#8 key and says which algorithm it is.
func parseKey(der []byte) (crypto.Signer, string, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, "", fmt.Errorf("dkim key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, RSA, nil
	case ed25519.PrivateKey:
		return k, Ed25519, nil
	}
	return nil, "", fmt.Errorf("dkim key: unsupported key type %T", k)
}

// Record returns the DNS TXT record that publishes the public half of a
// PKCS#8 private key: "v=DKIM1; k=rsa; p=<base64 of the PKIX public key>",
// or for Ed25519 the raw 32-byte key (RFC 8463 §4.2).
func Record(der []byte) (string, error) {
	key, alg, err := parseKey(der)
	if err != nil {
		return "", err
	}
	var pub []byte
	if alg == Ed25519 {
		pub = key.Public().(ed25519.PublicKey)
	} else if pub, err = x509.MarshalPKIXPublicKey(key.Public()); err != nil {
		return "", fmt.Errorf("dkim key: %w", err)
	}
	return "v=DKIM1; k=" + alg + "; p=" + base64.StdEncoding.EncodeToString(pub), nil
}

// RecordName is the DNS name the record of a selector is published at.
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + domain
}

// ZoneLine is the record as a zone-file line, its value cut into quoted
// strings of at most 255 characters: one DNS TXT string holds no more,
// and a 2048-bit RSA record is about 400.
func ZoneLine(selector, domain, record string) string {
	var parts []string
	for len(record) > 255 {
		parts = append(parts, `"`+record[:255]+`"`)
		record = record[255:]
	}
	parts = append(parts, `"`+record+`"`)
	return RecordName(selector, domain) + ". IN TXT ( " + strings.Join(parts, " ") + " )"
}

// DefaultSelector is the selector a key gets when none is asked for:
// "relay" and the date, so that a rotation's new key gets a new name.
func DefaultSelector(now time.Time) string {
	return "relay" + now.UTC().Format("20060102")
}

// NormalizeDomain and NormalizeSelector are the rules of internal/names,
// which relayctl checks too.
var (
	NormalizeDomain   = names.DKIMDomain
	NormalizeSelector = names.DKIMSelector
)
