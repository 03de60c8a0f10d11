package dkim

import (
	"bytes"
	"crypto"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync/atomic"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Key is a key ready to sign with.
type Key struct {
	Domain    string
	Selector  string
	Algorithm string
	signer    crypto.Signer
}

// NewKey parses a stored key (PKCS#8 DER) for domain and selector.
func NewKey(domain, selector string, der []byte) (Key, error) {
	s, alg, err := parseKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("%s for %s: %w", selector, domain, err)
	}
	return Key{Domain: domain, Selector: selector, Algorithm: alg, signer: s}, nil
}

// Keyring holds the keys the relay signs with, parsed once: Set swaps in
// a new set (after a key is added or removed) while signing goes on. The
// zero value signs nothing.
type Keyring struct {
	keys atomic.Pointer[map[string][]Key] // by domain
}

// Set replaces the keys.
func (r *Keyring) Set(keys []Key) {
	m := make(map[string][]Key)
	for _, k := range keys {
		m[k.Domain] = append(m[k.Domain], k)
	}
	r.keys.Store(&m)
}

// keysFor returns the keys of the From domain or of its closest parent
// that has any.
func (r *Keyring) keysFor(domain string) []Key {
	p := r.keys.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	for d := strings.ToLower(domain); d != ""; {
		if ks := (*p)[d]; len(ks) > 0 {
			return ks
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = parent
	}
	return nil
}

// signedHeaders are the fields RFC 6376 §5.4.1 recommends signing, with
// those that make up a message's meaning besides (Message-ID, the MIME
// fields, Sender, and List-Unsubscribe-Post, which RFC 8058 requires
// signed). Only those the message has are listed in h=.
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References", "Message-ID", "Sender",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post",
	"List-Owner", "List-Archive", "List-Unsubscribe-Post",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// Sign returns msg (header and body, CRLF line ends) with a
// DKIM-Signature field on top for each key of its From domain (or
// closest parent) that has not signed it already, and how many it added.
// All of a domain's keys sign, so that a rotation (a new selector added
// before the old one is removed) never leaves mail signed only by a key
// whose record is not published yet. With no key, msg comes back as is.
func (r *Keyring) Sign(msg []byte) ([]byte, int, error) {
	if p := r.keys.Load(); p == nil || len(*p) == 0 {
		return msg, 0, nil // no key at all: not even the header is read
	}
	fields := headerFields(msg)
	from := fromDomain(fields)
	if from == "" {
		return msg, 0, nil
	}
	keys := r.keysFor(from)
	if len(keys) == 0 {
		return msg, 0, nil
	}
	hk := headerKeys(fields)
	var sigs []string
	for _, k := range keys {
		if signedBy(fields, k.Domain, k.Selector) {
			continue
		}
		sig, err := k.sign(msg, hk)
		if err != nil {
			return msg, 0, err
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return msg, 0, nil
	}
	n := len(msg)
	for _, s := range sigs {
		n += len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range sigs {
		out = append(out, s...)
	}
	return append(out, msg...), len(sigs), nil
}

func (k Key) sign(msg []byte, hk []string) (string, error) {
	s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: k.signer,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             hk,
	})
	if err != nil {
		return "", fmt.Errorf("dkim %s for %s: %w", k.Selector, k.Domain, err)
	}
	if _, err := s.Write(msg); err != nil {
		s.Close()
		return "", fmt.Errorf("dkim %s for %s: %w", k.Selector, k.Domain, err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("dkim %s for %s: %w", k.Selector, k.Domain, err)
	}
	return s.Signature(), nil
}

// field is one header field, unfolded.
type field struct{ name, value string }

// headerFields reads the header section: up to the first empty line (or
// the whole message if it has none).
func headerFields(msg []byte) []field {
	var out []field
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			return out
		case line[0] == ' ' || line[0] == '\t':
			if len(out) > 0 {
				out[len(out)-1].value += " " + strings.TrimSpace(string(line))
			}
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			if ok {
				out = append(out, field{strings.TrimSpace(string(name)), strings.TrimSpace(string(value))})
			}
		}
	}
	return out
}

// fromDomain is the domain of the first From address, "" if there is
// none or it cannot be read.
func fromDomain(fields []field) string {
	for _, f := range fields {
		if !strings.EqualFold(f.name, "From") {
			continue
		}
		addrs, err := mail.ParseAddressList(f.value)
		if err != nil || len(addrs) == 0 {
			return ""
		}
		_, domain, ok := strings.Cut(addrs[0].Address, "@")
		if !ok {
			return ""
		}
		return strings.ToLower(strings.TrimSuffix(domain, "."))
	}
	return ""
}

// headerKeys is h=: each recommended field once per occurrence, and From
// once more (oversigned).
func headerKeys(fields []field) []string {
	var out []string
	for _, name := range signedHeaders {
		for _, f := range fields {
			if strings.EqualFold(f.name, name) {
				out = append(out, name)
			}
		}
	}
	if !slices.Contains(out, "From") {
		out = append(out, "From") // go-msgauth insists; an absent field signs as empty
	}
	return append(out, "From")
}

// signedBy reports whether a DKIM-Signature for domain and selector is
// there already.
func signedBy(fields []field, domain, selector string) bool {
	for _, f := range fields {
		if !strings.EqualFold(f.name, "DKIM-Signature") {
			continue
		}
		tags := map[string]string{}
		for _, t := range strings.Split(f.value, ";") {
			k, v, _ := strings.Cut(t, "=")
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(v), "")
		}
		if strings.EqualFold(tags["d"], domain) && strings.EqualFold(tags["s"], selector) {
			return true
		}
	}
	return false
}
