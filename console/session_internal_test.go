package console

import (
	"testing"
	"time"
)

// Signing in without end keeps at most max sessions, and the one that
// makes room is the oldest.
func TestSessionsAreBounded(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ss := newSessions(func() time.Time { return now }, 8*time.Hour)
	if ss.max != maxSessions {
		t.Fatalf("max %d, want maxSessions", ss.max)
	}
	ss.max = 100
	first, _ := ss.create("ops", "operator", false)
	now = now.Add(time.Second)
	second, _ := ss.create("ops", "operator", false)
	for range ss.max + 10 {
		now = now.Add(time.Millisecond)
		ss.create("ops", "operator", false)
	}
	if n := len(ss.m); n > ss.max {
		t.Fatalf("%d sessions kept, want at most %d", n, ss.max)
	}
	if _, ok := ss.get(first); ok {
		t.Error("the oldest session survived")
	}
	if _, ok := ss.get(second); ok {
		t.Error("the second oldest session survived 10 sign-ins past the bound")
	}
}
