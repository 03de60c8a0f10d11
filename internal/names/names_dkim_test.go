package names

import (
	"strings"
	"testing"
)

// FuzzDKIMDomain: what DKIMDomain accepts is a lower-case host name that
// it accepts again unchanged, so that a key's bucket key and its DNS name
// are one spelling.
func FuzzDKIMDomain(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", "exa_mple.com", "a..b", "xn--bcher-kva.de", "1.2.3.4", "a.com;x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DKIMDomain(s)
		if err != nil {
			return
		}
		again, err := DKIMDomain(d)
		if err != nil || again != d || strings.Trim(d, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" || len(d) > 253 {
			t.Fatalf("DKIMDomain(%q) = %q, then %q, %v", s, d, again, err)
		}
	})
}
