package auth

import "testing"

func TestAPIKeyRoundTrip(t *testing.T) {
	for range 50 {
		pw, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"default", "a", "app.web-1_x", "z9"} {
			key := APIKey(name, pw)
			n, p, ok := ParseAPIKey(key)
			if !ok || n != name || p != pw {
				t.Fatalf("ParseAPIKey(%q) = %q, %q, %v; want %q, %q", key, n, p, ok, name, pw)
			}
		}
	}
}

func TestParseAPIKeyRefuses(t *testing.T) {
	for _, key := range []string{
		"", "SG.", "SG.YXBw", "SG.YXBw.", "sg.YXBw.pw", "SG.YXBw.pw.extra",
		"SG.!!!.pw", "SG.QVBQ.pw", // "APP": not a valid name
		"Bearer SG.YXBw.pw",
	} {
		if n, p, ok := ParseAPIKey(key); ok {
			t.Errorf("ParseAPIKey(%q) = %q, %q, true; want refused", key, n, p)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add("SG.YXBw.abc")
	f.Add("SG..")
	f.Fuzz(func(t *testing.T, key string) {
		n, p, ok := ParseAPIKey(key)
		if ok && APIKey(n, p) != key {
			t.Fatalf("%q parsed as %q, %q, which makes %q", key, n, p, APIKey(n, p))
		}
	})
}
