package auth

import (
	"strings"
	"testing"
)

// The one test that pays for DefaultParams: what production writes must
// parse back to the same string and still verify.
func TestDefaultParamsPHCRoundTrip(t *testing.T) {
	h := newHash("correct horse", DefaultParams)
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(h.encoded, want) {
		t.Fatalf("encoded = %q, want prefix %q", h.encoded, want)
	}
	parsed, err := parseHash(h.encoded)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.encoded != h.encoded || parsed.params != DefaultParams {
		t.Errorf("round trip: %q with %+v, want %q with %+v", parsed.encoded, parsed.params, h.encoded, DefaultParams)
	}
	if !parsed.matches("correct horse") {
		t.Error("parsed hash rejects its password")
	}
	if parsed.matches("correct horse ") {
		t.Error("parsed hash accepts a wrong password")
	}
}

func TestParseHashRejects(t *testing.T) {
	good := newHash("pw", TestParams).encoded // $argon2id$v=19$m=64,t=1,p=1$salt$key
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := map[string]string{
		"empty":             "",
		"argon2i":           "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"old version":       "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"missing version":   "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"reordered cost":    "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"leading zero":      "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"zero time":         "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"zero threads":      "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"huge memory":       "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"threads overflow":  "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"padded salt":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"url alphabet":      "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-",
		"short key":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:8],
		"short salt":        "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"trailing field":    good + "$",
		"no leading dollar": good[1:],
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseHash(s); err == nil {
				t.Errorf("parseHash(%q) succeeded", s)
			}
		})
	}
	if _, err := parseHash(good); err != nil {
		t.Errorf("parseHash(%q): %v", good, err)
	}
}

// Stored records are ours, but a corrupt one must fail cleanly, and
// whatever parses must be canonical.
func FuzzParseHash(f *testing.F) {
	f.Add(newHash("pw", TestParams).encoded)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.encoded != s || h.encode() != s {
			t.Errorf("parseHash(%q) accepted a non-canonical string", s)
		}
		if err := h.params.validate(); err != nil {
			t.Errorf("parseHash(%q) accepted invalid parameters: %v", s, err)
		}
	})
}
