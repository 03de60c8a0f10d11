package webhook

import (
	"testing"
	"time"
)

// The wait before a retry starts at MinBackoff, spreads over a ceiling
// that doubles with each failure, and never passes MaxBackoff, however
// many failures (no overflow).
func TestBackoffBounds(t *testing.T) {
	s := &sender{cfg: &Config{MinBackoff: 5 * time.Second, MaxBackoff: time.Hour}}
	if d := s.backoff(1); d != 5*time.Second {
		t.Errorf("first wait %v, want 5s", d)
	}
	for failures, ceil := range map[int]time.Duration{2: 10 * time.Second, 3: 20 * time.Second, 11: time.Hour, 64: time.Hour, 1000: time.Hour} {
		longest := time.Duration(0)
		for range 200 {
			d := s.backoff(failures)
			if d < 5*time.Second || d > ceil {
				t.Fatalf("wait after %d failures %v, want 5s..%v", failures, d, ceil)
			}
			longest = max(longest, d)
		}
		if longest <= ceil*3/4 {
			t.Errorf("after %d failures the waits never passed %v: no jitter up to the ceiling %v", failures, longest, ceil)
		}
	}
}
