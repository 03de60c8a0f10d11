package auth

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoginDiesWithItsPassword(t *testing.T) {
	f := newFixture(t)
	s, clk := f.svc, f.clock
	_, pw, err := s.Add("app", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var changes atomic.Int32
	s.OnChange(func(name string) {
		if name == "app" {
			changes.Add(1)
		}
	})
	_, login, err := s.Authenticate("app", pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(login); !ok {
		t.Fatal("fresh login fails Check")
	}

	// With grace, the old login lives until the grace ends.
	pw2, err := s.Rotate("app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(login); !ok {
		t.Error("login with the old password died inside the grace period")
	}
	_, login2, err := s.Authenticate("app", pw2)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, ok := s.Check(login); ok {
		t.Error("login with the old password outlived the grace period")
	}
	if _, ok := s.Check(login2); !ok {
		t.Error("login with the new password died with the grace period")
	}

	// Without grace, at once; disabling kills every login.
	if _, err := s.Rotate("app", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(login2); ok {
		t.Error("login survived a rotation without grace")
	}
	_, pw3 := mustRotate(t, s, "app")
	_, login3, _ := s.Authenticate("app", pw3)
	s.SetDisabled("app", true)
	if _, ok := s.Check(login3); ok {
		t.Error("login survived disable")
	}
	if got := changes.Load(); got != 4 {
		t.Errorf("OnChange called %d times for 3 rotations and a disable", got)
	}
	if _, ok := s.Check(Login{Name: "app"}); ok {
		t.Error("a zero Login passed Check")
	}
}

func mustRotate(t *testing.T, s *Service, name string) (string, string) {
	t.Helper()
	pw, err := s.Rotate(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return name, pw
}

func TestSettings(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	hold := 2 * time.Minute
	c, _, err := s.Create("billing", Settings{Description: "billing", Hold: &hold,
		AllowedSenders: []string{"@corp.example", "ops@other.example"}, MaxMessageSize: 1 << 20, RateLimit: 60})
	if err != nil {
		t.Fatal(err)
	}
	if *c.Hold != hold || c.RateLimit != 60 || c.MaxMessageSize != 1<<20 || len(c.AllowedSenders) != 2 {
		t.Fatalf("created %+v", c)
	}
	for addr, want := range map[string]bool{"a@corp.example": true, "A@CORP.EXAMPLE": true, "ops@other.example": true,
		"x@other.example": false, "a@evilcorp.example": false, "": false} {
		if got := c.SenderAllowed(addr); got != want {
			t.Errorf("SenderAllowed(%q) = %v", addr, got)
		}
	}
	set := SettingsOf(c)
	set.RateLimit, set.Hold = 0, nil
	set.Upstream, set.UpstreamFallback = "smtps://u:secret@mx.example", "smtp://backup.example"
	c, err = s.Update("billing", set)
	if err != nil || c.RateLimit != 0 || c.Hold != nil || c.Description != "billing" || c.Upstream != set.Upstream {
		t.Fatalf("update: %+v %v", c, err)
	}
	// Settings survive a reload from the store.
	s2 := f.open(t)
	if c2, _ := s2.Get("billing"); len(c2.AllowedSenders) != 2 || c2.MaxMessageSize != 1<<20 ||
		c2.Upstream != set.Upstream || c2.UpstreamFallback != set.UpstreamFallback {
		t.Errorf("reloaded %+v", c2)
	}
	for _, bad := range []Settings{{RateLimit: -1}, {MaxMessageSize: -5}, {AllowedSenders: []string{"nodomain"}},
		{AllowedSenders: []string{"a@"}}, {Description: "two\nlines"}, {Upstream: "smtp://a b"},
		{UpstreamFallback: "smtp://x\r\n"}} {
		if _, err := s.Update("billing", bad); !errors.Is(err, ErrInvalidSetting) && !errors.Is(err, ErrNegativeDuration) {
			t.Errorf("Update(%+v) = %v", bad, err)
		}
	}
}
