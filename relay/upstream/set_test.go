package upstream

import (
	"strings"
	"testing"
	"time"
)

// TestSet: one transport per URL, shared while in use; Forget lets go of
// the idle ones only, and a forgotten URL gets a new transport.
func TestSet(t *testing.T) {
	s := NewSet(Options{Hostname: "relay.test"})
	a, relA, err := s.Acquire("smtp://a.example:2525?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	a2, relA2, _ := s.Acquire("smtp://a.example:2525?tls=none")
	b, relB, _ := s.Acquire("smtp://b.example:2525?tls=none")
	if a != a2 || a == b || s.Len() != 2 {
		t.Fatalf("same URL, same transport: %v; other URL, other transport: %v; %d held", a == a2, a != b, s.Len())
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	relA(t0)
	relB(t0)
	s.Forget(t0) // nothing idle since before t0
	if s.Len() != 2 {
		t.Errorf("Forget(t0) dropped transports used at t0: %d left", s.Len())
	}
	s.Forget(t0.Add(time.Minute)) // a is still in use (relA2 pending), b is idle
	if s.Len() != 1 {
		t.Errorf("Forget dropped %d transports, want b only", 2-s.Len())
	}
	relA2(t0)
	s.Forget(time.Time{})
	if s.Len() != 0 {
		t.Errorf("Forget(zero) left %d transports", s.Len())
	}
	a3, _, _ := s.Acquire("smtp://a.example:2525?tls=none")
	if a3 == a {
		t.Error("a forgotten URL got its old transport back")
	}
	if _, _, err := s.Acquire("smtp://u:pw-secret@a.example:nope"); err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("bad URL: %v", err)
	}
}

// FuzzNew: any URL is a transport or an error; neither repeats a password.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{"smtp://mx.example", "smtps://u:pw@mx.example:465", "smtp://u:pw@h:25?tls=none",
		"smtp://h?tls=opportunistic", "file:///tmp/out", "file://./out", "file:out", "smtp://u:pw@h:x", "smtp://[::1]:25",
		"http://h", "", "smtp://u@h", "smtps://h?tls=none", "smtp://h/path", "%zz"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tr, err := New(raw, Options{})
		pw := ""
		if i := strings.Index(raw, "://"); i >= 0 {
			if at := strings.LastIndex(raw, "@"); at > i {
				if _, p, ok := strings.Cut(raw[i+3:at], ":"); ok && len(p) >= 4 {
					pw = p
				}
			}
		}
		var shown string
		if err != nil {
			shown = err.Error()
		} else {
			shown = tr.String()
		}
		if pw != "" && strings.Contains(shown, pw) && !strings.Contains(strings.Replace(raw, pw, "", 1), pw) {
			t.Fatalf("New(%q) shows the password: %s", raw, shown)
		}
	})
}
