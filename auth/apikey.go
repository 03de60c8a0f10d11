package auth

import (
	"encoding/base64"
	"strings"
)

// An API key is how the HTTP Mail Send API (SendGrid's v3, which has no
// username) carries a credential's name and password in one bearer
// token: "SG." + base64url(name) + "." + password, in the shape of
// SendGrid's keys so that tools which check that shape accept it.
//
// It is unambiguous: a name is [a-z0-9._-] and its base64url
// encoding (unpadded) holds no '.', and a generated password is
// [A-Za-z0-9_-] (see GeneratePassword), so the key splits at its two
// dots. The key is the password: rotating the password rotates the key,
// and it is checked as the password is, never stored.
const apiKeyPrefix = "SG."

// APIKey returns the API key of a credential's name and password.
func APIKey(name, password string) string {
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + password
}

// ParseAPIKey splits an API key into the name and password it carries.
// ok is false for anything that is not such a key.
func ParseAPIKey(key string) (name, password string, ok bool) {
	rest, found := strings.CutPrefix(key, apiKeyPrefix)
	if !found {
		return "", "", false
	}
	enc, password, found := strings.Cut(rest, ".")
	if !found || password == "" || strings.Contains(password, ".") {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	// The decoder skips CR and LF: only the canonical encoding is a key,
	// so that one name has one key.
	if err != nil || !ValidName(string(raw)) || base64.RawURLEncoding.EncodeToString(raw) != enc {
		return "", "", false
	}
	return string(raw), password, true
}
