// Package names holds the syntax of the names that both the SMTP side
// (X-SMTPAPI headers) and the admin side (selectors, batch commands)
// accept, so that relayctl can check them without importing the relay.
package names

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds of batch IDs and categories.
const (
	MaxBatchID  = 100
	MaxCategory = 255
)

// BatchID reports whether id is acceptable as a batch ID: 1 to
// MaxBatchID letters, digits, '.', '_' or '-', safe in a URL path and a
// spool key.
func BatchID(id string) bool {
	if id == "" || len(id) > MaxBatchID {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Category reports whether c is acceptable as a category: 1 to
// MaxCategory bytes of UTF-8 without control characters.
func Category(c string) bool {
	if c == "" || len(c) > MaxCategory || !utf8.ValidString(c) {
		return false
	}
	for _, r := range c {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// DKIMDomain checks a domain a key is for and returns it in lower
// case, without a trailing dot: an ASCII host name (an internationalized
// one in its xn-- form) of at least two labels, each 1 to 63 letters,
// digits and inner hyphens, 253 characters at most.
func DKIMDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if d == "" {
		return "", errors.New("invalid domain: empty")
	}
	if len(d) > 253 {
		return "", fmt.Errorf("invalid domain %q: longer than 253 characters", s)
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("invalid domain %q: want a name with a dot, such as example.com", s)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("invalid domain %q: %w", s, err)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("invalid domain %q: the last label is a number (an IP address is not a domain)", s)
	}
	return d, nil
}

// DKIMSelector checks a selector: one or more labels as in a domain
// (RFC 6376 §3.1), in lower case.
func DKIMSelector(s string) (string, error) {
	sel := strings.ToLower(s)
	if sel == "" || len(sel) > 63 {
		return "", fmt.Errorf("invalid selector %q: want 1 to 63 characters", s)
	}
	for _, l := range strings.Split(sel, ".") {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("invalid selector %q: %w", s, err)
		}
	}
	return sel, nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q longer than 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has %q: use letters, digits and '-' (an internationalized name in its xn-- form)", l, c)
		}
	}
	return nil
}

// NewBatchID is a new random batch ID of 32 letters and digits, like
// SendGrid's.
func NewBatchID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
