package auth

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	steps := []struct {
		name   string
		change func(*testing.T, *fixture)
	}{
		{"rotate", func(t *testing.T, f *fixture) {
			if _, err := f.svc.Rotate("app", 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"disable", func(t *testing.T, f *fixture) {
			if err := f.svc.SetDisabled("app", true); err != nil {
				t.Fatal(err)
			}
		}},
		{"remove", func(t *testing.T, f *fixture) {
			if err := f.svc.Remove("app"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			pw := f.add(t, "app")
			if !ok(f.svc, "app", pw) {
				t.Fatal("password rejected")
			}
			before := f.svc.argonRuns.Load()
			if !ok(f.svc, "app", pw) {
				t.Fatal("cached password rejected")
			}
			if n := f.svc.argonRuns.Load() - before; n != 0 {
				t.Fatalf("second login ran argon2 %d times, want a cache hit", n)
			}
			if ok(f.svc, "app", pw+"x") {
				t.Fatal("wrong password accepted next to a cached one")
			}
			tt.change(t, f)
			if n := f.svc.cache.len(); n != 0 {
				t.Errorf("cache holds %d entries after %s", n, tt.name)
			}
			if ok(f.svc, "app", pw) {
				t.Errorf("old password accepted after %s", tt.name)
			}
		})
	}
}

// A rotated hash must not match a cache entry even if nobody forgot it.
func TestCacheBoundToHash(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	ok(f.svc, "app", pw)
	old := f.svc.creds["app"].cur.encoded
	if !f.svc.cache.hit("app", old, f.svc.cache.mac(pw)) {
		t.Fatal("login not cached")
	}
	if _, err := f.svc.Rotate("app", 0); err != nil {
		t.Fatal(err)
	}
	f.svc.cache.put("app", old, f.svc.cache.mac(pw)) // as if forget were lost
	if ok(f.svc, "app", pw) {
		t.Error("cache entry for a replaced hash let the old password in")
	}
}

func TestCacheDuringGrace(t *testing.T) {
	f := newFixture(t)
	oldPW := f.add(t, "app")
	newPW, err := f.svc.Rotate("app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ok(f.svc, "app", oldPW)
	ok(f.svc, "app", newPW)
	before := f.svc.argonRuns.Load()
	for range 3 {
		if !ok(f.svc, "app", oldPW) || !ok(f.svc, "app", newPW) {
			t.Fatal("a password rejected during grace")
		}
	}
	if n := f.svc.argonRuns.Load() - before; n != 0 {
		t.Errorf("alternating old and new passwords ran argon2 %d times, want 0", n)
	}
	f.clock.Advance(time.Hour)
	if ok(f.svc, "app", oldPW) {
		t.Error("cached old password outlived the grace period")
	}
}

// A change that lands while Verify hashes must be judged, not missed: the
// clock, which Verify reads between looking the credential up and hashing,
// disables it at exactly that moment.
func TestVerifyRacingChange(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	var armed, fired bool
	svc := f.svc
	svc.now = func() time.Time {
		if armed && !fired {
			fired = true
			if err := svc.SetDisabled("app", true); err != nil {
				t.Error(err)
			}
		}
		return f.clock.Now()
	}
	armed = true
	if ok(svc, "app", pw) {
		t.Error("login passed against a credential disabled during the check")
	}
	if !fired {
		t.Fatal("the change never ran")
	}
	if n := svc.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries for a disabled credential", n)
	}
}

func TestSemaphoreBoundsHashing(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	for range cap(f.svc.sem) {
		f.svc.sem <- struct{}{}
	}
	done := make(chan bool)
	go func() { done <- ok(f.svc, "app", pw) }()
	select {
	case <-done:
		t.Fatal("Verify hashed with every argon2 slot taken")
	case <-time.After(50 * time.Millisecond):
	}
	<-f.svc.sem
	if !<-done {
		t.Error("Verify failed once a slot was free")
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if ok(f.svc, "app", pw+"x") {
					t.Error("wrong password accepted")
				}
				ok(f.svc, "app", pw)
				if i == 0 {
					if _, err := f.svc.Rotate("app", time.Minute); err != nil {
						t.Error(err)
					}
				}
				f.svc.List()
			}
		})
	}
	wg.Wait()
	if ok(f.svc, "app", pw) {
		t.Error("password from 20 rotations ago accepted")
	}
}

func BenchmarkVerify(b *testing.B) {
	s, pw := benchService(b)
	for b.Loop() {
		s.cache.forget("app")
		if _, err := s.Verify("app", pw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	s, pw := benchService(b)
	if _, err := s.Verify("app", pw); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Verify("app", pw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUnknown(b *testing.B) {
	s, pw := benchService(b)
	for b.Loop() {
		if _, err := s.Verify("nobody", pw); err == nil {
			b.Fatal("unknown user accepted")
		}
	}
}

func benchService(b *testing.B) (*Service, string) {
	s, err := New(newMemStore(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	_, pw, err := s.Add("app", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	return s, pw
}
