// Package names holds the syntax of the names that both the SMTP side
// (X-SMTPAPI headers) and the admin side (selectors, batch commands)
// accept, so that relayctl can check them without importing the relay.
package names

import (
	"crypto/rand"
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
