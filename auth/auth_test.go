package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is the Store at the edge of the world: the spool implements the
// real one. Its errors can be switched on to check that a failed write
// leaves the Service unchanged.
type memStore struct {
	mu        sync.Mutex
	recs      map[string][]byte
	putErr    error
	deleteErr error
}

func newMemStore() *memStore { return &memStore{recs: make(map[string][]byte)} }

func (m *memStore) LoadCredentials() (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.recs), nil
}

func (m *memStore) PutCredential(name string, rec []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.putErr != nil {
		return m.putErr
	}
	m.recs[name] = bytes.Clone(rec)
	return nil
}

func (m *memStore) DeleteCredential(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.deleteErr != nil {
		return m.deleteErr
	}
	delete(m.recs, name)
	return nil
}

func (m *memStore) all() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.recs))
}

// fakeClock is the clock the tests drive through grace periods.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	store *memStore
	clock *fakeClock
	logs  *bytes.Buffer
	svc   *Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), clock: newFakeClock(), logs: new(bytes.Buffer)}
	f.svc = f.open(t)
	return f
}

// open starts a Service over the fixture's store, as a restart would.
func (f *fixture) open(t *testing.T) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(f.store, Options{Params: TestParams, Now: f.clock.Now, Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func (f *fixture) add(t *testing.T, name string) string {
	t.Helper()
	_, pw, err := f.svc.Add(name, "test "+name, nil)
	if err != nil {
		t.Fatalf("Add(%q): %v", name, err)
	}
	return pw
}

func ok(s *Service, user, pw string) bool {
	_, err := s.Verify(user, pw)
	return err == nil
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	appPW := f.add(t, "app")
	offPW := f.add(t, "off")
	if err := f.svc.SetDisabled("off", true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pw string
		want           error
	}{
		{"right password", "app", appPW, nil},
		{"wrong password", "app", appPW + "x", ErrBadCredentials},
		{"empty password", "app", "", ErrBadCredentials},
		{"another credential's password", "app", offPW, ErrBadCredentials},
		{"unknown user", "nobody", appPW, ErrBadCredentials},
		{"empty user", "", appPW, ErrBadCredentials},
		{"names are case-sensitive", "APP", appPW, ErrBadCredentials},
		{"disabled with its password", "off", offPW, ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.svc.Verify(tt.user, tt.pw)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify(%q) = %v, want %v", tt.user, err, tt.want)
			}
			if err == nil && c.Name != tt.user {
				t.Errorf("Verify returned credential %q, want %q", c.Name, tt.user)
			}
			if err != nil && !reflect.DeepEqual(c, Credential{}) {
				t.Errorf("failed Verify returned credential %+v", c)
			}
		})
	}
}

// Every failure must cost one argon2 run, or the time would tell an
// unknown name or a disabled credential from a wrong password.
func TestFailuresCostOneHash(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	f.add(t, "off")
	if err := f.svc.SetDisabled("off", true); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"app", "nobody", "off", "", "Not A Name"} {
		before := f.svc.argonRuns.Load()
		if ok(f.svc, user, pw+"x") {
			t.Fatalf("Verify(%q) with a wrong password succeeded", user)
		}
		if n := f.svc.argonRuns.Load() - before; n != 1 {
			t.Errorf("Verify(%q) ran argon2 %d times, want 1", user, n)
		}
	}
}

func TestDisableEnable(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	if !ok(f.svc, "app", pw) {
		t.Fatal("fresh credential rejected")
	}
	if err := f.svc.SetDisabled("app", true); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.svc.Get("app"); !c.Disabled {
		t.Error("Get does not show the credential disabled")
	}
	if ok(f.svc, "app", pw) {
		t.Fatal("disabled credential accepted, though its login was cached")
	}
	if err := f.svc.SetDisabled("app", false); err != nil {
		t.Fatal(err)
	}
	if !ok(f.svc, "app", pw) {
		t.Fatal("re-enabled credential rejected")
	}
	if err := f.svc.SetDisabled("nobody", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDisabled(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRotate(t *testing.T) {
	const grace = time.Hour
	tests := []struct {
		name          string
		grace         time.Duration
		after         time.Duration // clock advance after the rotation
		oldOK, newOK  bool
		wantGraceTill bool
	}{
		{"no grace", 0, 0, false, true, false},
		{"grace, just rotated", grace, 0, true, true, true},
		{"grace, nearly over", grace, grace - time.Nanosecond, true, true, true},
		{"grace, just over", grace, grace, false, true, false},
		{"grace, long over", grace, 24 * time.Hour, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			oldPW := f.add(t, "app")
			if !ok(f.svc, "app", oldPW) { // so that a stale cache would show
				t.Fatal("old password rejected before rotation")
			}
			f.clock.Advance(time.Minute)
			rotatedAt := f.clock.Now()
			newPW, err := f.svc.Rotate("app", tt.grace)
			if err != nil {
				t.Fatal(err)
			}
			if newPW == oldPW || len(newPW) < 22 {
				t.Fatalf("Rotate returned %d-char password, equal to old: %v", len(newPW), newPW == oldPW)
			}
			f.clock.Advance(tt.after)
			if got := ok(f.svc, "app", oldPW); got != tt.oldOK {
				t.Errorf("old password accepted = %v, want %v", got, tt.oldOK)
			}
			if got := ok(f.svc, "app", newPW); got != tt.newOK {
				t.Errorf("new password accepted = %v, want %v", got, tt.newOK)
			}
			c, _ := f.svc.Get("app")
			if !c.PasswordChanged.Equal(rotatedAt) {
				t.Errorf("PasswordChanged = %v, want %v", c.PasswordChanged, rotatedAt)
			}
			if got := !c.GraceUntil.IsZero(); got != tt.wantGraceTill {
				t.Errorf("GraceUntil = %v, want set: %v", c.GraceUntil, tt.wantGraceTill)
			}
			if tt.wantGraceTill && !c.GraceUntil.Equal(rotatedAt.Add(tt.grace)) {
				t.Errorf("GraceUntil = %v, want %v", c.GraceUntil, rotatedAt.Add(tt.grace))
			}
		})
	}
}

func TestRotateTwiceEndsFirstGrace(t *testing.T) {
	f := newFixture(t)
	first := f.add(t, "app")
	second, err := f.svc.Rotate("app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.svc.Rotate("app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ok(f.svc, "app", first) {
		t.Error("password from two rotations ago still accepted")
	}
	if !ok(f.svc, "app", second) || !ok(f.svc, "app", third) {
		t.Error("the grace and the current password must both work")
	}
}

func TestRotateErrors(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	if _, err := f.svc.Rotate("nobody", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Rotate("app", -time.Second); !errors.Is(err, ErrNegativeDuration) {
		t.Errorf("Rotate(negative grace) = %v, want ErrNegativeDuration", err)
	}
	if !ok(f.svc, "app", pw) {
		t.Error("a refused rotation changed the password")
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	if !ok(f.svc, "app", pw) {
		t.Fatal("password rejected")
	}
	if err := f.svc.Remove("app"); err != nil {
		t.Fatal(err)
	}
	if ok(f.svc, "app", pw) {
		t.Error("removed credential accepted")
	}
	if _, found := f.svc.Get("app"); found || f.svc.Len() != 0 {
		t.Errorf("removed credential still listed: found %v, Len %d", found, f.svc.Len())
	}
	if len(f.store.all()) != 0 {
		t.Error("record still in the store")
	}
	if err := f.svc.Remove("app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	newPW := f.add(t, "app")
	if ok(f.svc, "app", pw) || !ok(f.svc, "app", newPW) {
		t.Error("re-added credential must take only its new password")
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"0", true},
		{"billing-app_2.v1", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"App", false},
		{"-app", false},
		{".app", false},
		{"_app", false},
		{"my app", false},
		{"a/b", false},
		{"a@b", false},
		{"café", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, pw, err := f.svc.Add(tt.name, "", nil)
			if tt.ok != (err == nil) {
				t.Fatalf("Add(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidName) {
				t.Errorf("Add(%q) = %v, want ErrInvalidName", tt.name, err)
			}
			if tt.ok && !ok(f.svc, tt.name, pw) {
				t.Errorf("Verify(%q) failed", tt.name)
			}
			if !tt.ok && (f.svc.Len() != 0 || len(f.store.all()) != 0) {
				t.Error("invalid name was stored")
			}
		})
	}
}

func TestAddDuplicate(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	if _, _, err := f.svc.Add("app", "again", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate Add = %v, want ErrExists", err)
	}
	if c, _ := f.svc.Get("app"); c.Description != "test app" {
		t.Errorf("duplicate Add changed the description to %q", c.Description)
	}
	if !ok(f.svc, "app", pw) {
		t.Error("duplicate Add changed the password")
	}
}

func TestAddHold(t *testing.T) {
	f := newFixture(t)
	zero, two := time.Duration(0), 2*time.Minute
	for name, hold := range map[string]*time.Duration{"global": nil, "instant": &zero, "slow": &two} {
		c, _, err := f.svc.Add(name, "", hold)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Hold, hold) {
			t.Errorf("%s: Hold = %v, want %v", name, c.Hold, hold)
		}
	}
	c, _ := f.svc.Get("slow")
	*c.Hold = 0
	if c, _ := f.svc.Get("slow"); *c.Hold != two {
		t.Errorf("changing a returned Hold changed the credential's to %v", *c.Hold)
	}
	neg := -time.Second
	if _, _, err := f.svc.Add("neg", "", &neg); !errors.Is(err, ErrNegativeDuration) {
		t.Errorf("Add with negative hold = %v, want ErrNegativeDuration", err)
	}
	// Restart: 0s must come back as 0s, not as "use the global one".
	reopened := f.open(t).List()
	got := map[string]*time.Duration{}
	for _, c := range reopened {
		got[c.Name] = c.Hold
	}
	if got["global"] != nil || got["instant"] == nil || *got["instant"] != 0 || got["slow"] == nil || *got["slow"] != two {
		t.Errorf("holds after restart: global %v, instant %v, slow %v", got["global"], got["instant"], got["slow"])
	}
}

func TestListSorted(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"zeta", "alpha", "mid", "0first"} {
		f.add(t, n)
	}
	var names []string
	for _, c := range f.svc.List() {
		names = append(names, c.Name)
	}
	if want := []string{"0first", "alpha", "mid", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List names = %v, want %v", names, want)
	}
	if f.svc.Len() != 4 {
		t.Errorf("Len = %d, want 4", f.svc.Len())
	}
}

func TestPersistence(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	oldPW := f.add(t, "rotating")
	newPW, err := f.svc.Rotate("rotating", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, "off")
	if err := f.svc.SetDisabled("off", true); err != nil {
		t.Fatal(err)
	}

	again := f.open(t)
	if !reflect.DeepEqual(again.List(), f.svc.List()) {
		t.Errorf("after restart List =\n%+v\nwant\n%+v", again.List(), f.svc.List())
	}
	if !ok(again, "app", pw) || !ok(again, "rotating", oldPW) || !ok(again, "rotating", newPW) {
		t.Error("a restarted Service rejects a valid password")
	}
	if c, _ := again.Get("off"); !c.Disabled {
		t.Error("disabled flag lost across restart")
	}
	f.clock.Advance(time.Hour)
	if ok(again, "rotating", oldPW) {
		t.Error("grace period outlived its end after restart")
	}
}

func TestStoredRecords(t *testing.T) {
	f := newFixture(t)
	var passwords []string
	passwords = append(passwords, f.add(t, "app"))
	pw, err := f.svc.Rotate("app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	passwords = append(passwords, pw)
	if err := f.svc.SetDisabled("app", true); err != nil {
		t.Fatal(err)
	}
	ok(f.svc, "app", "wrong-password-attempt")
	passwords = append(passwords, "wrong-password-attempt")

	recs := f.store.all()
	if len(recs) != 1 {
		t.Fatalf("store holds %d records, want 1", len(recs))
	}
	for _, p := range passwords {
		if bytes.Contains(recs[0], []byte(p)) {
			t.Errorf("stored record contains a password: %s", recs[0])
		}
		if strings.Contains(f.logs.String(), p) {
			t.Errorf("log contains a password:\n%s", f.logs)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(recs[0], &rec); err != nil {
		t.Fatalf("record is not JSON: %v", err)
	}
	if rec["v"] != float64(recordVersion) {
		t.Errorf("record version = %v, want %d", rec["v"], recordVersion)
	}
	for _, field := range []string{"hash", "prev_hash"} {
		if h, _ := rec[field].(string); !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("%s = %q, want an argon2id PHC string", field, h)
		}
	}
}

func TestNewRejectsBadRecords(t *testing.T) {
	good := newFixture(t)
	good.add(t, "app")
	valid := good.store.all()[0]
	var rec map[string]any
	if err := json.Unmarshal(valid, &rec); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) []byte {
		r := maps.Clone(rec)
		r[k] = v
		b, _ := json.Marshal(r)
		return b
	}
	tests := []struct {
		name string
		key  string
		data []byte
	}{
		{"not JSON", "app", []byte("{")},
		{"future version", "app", with("v", 2)},
		{"no version", "app", with("v", 0)},
		{"key differs from name", "other", valid},
		{"invalid name", "App", with("name", "App")},
		{"bad hash", "app", with("hash", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$")},
		{"bcrypt hash", "app", with("hash", "$2a$10$abcdefghijklmnopqrstuv")},
		{"bad previous hash", "app", with("prev_hash", "nope")},
		{"bad hold", "app", with("hold", "soon")},
		{"negative hold", "app", with("hold", "-1s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			st.recs[tt.key] = tt.data
			if _, err := New(st, Options{Params: TestParams}); err == nil {
				t.Error("New accepted a bad record")
			}
		})
	}
	st := newMemStore()
	st.recs["app"] = valid
	if _, err := New(st, Options{Params: TestParams}); err != nil {
		t.Errorf("New rejected the valid record: %v", err)
	}
}

func TestNewRejectsBadParams(t *testing.T) {
	bad := TestParams
	bad.KeyLen = 4
	if _, err := New(newMemStore(), Options{Params: bad}); err == nil {
		t.Error("New accepted a 4-byte key length")
	}
}

// A failed write must leave memory as it was: store first, then memory.
func TestStoreFailure(t *testing.T) {
	f := newFixture(t)
	pw := f.add(t, "app")
	f.store.putErr = errors.New("disk full")
	f.store.deleteErr = errors.New("disk full")

	if _, _, err := f.svc.Add("new", "", nil); !errors.Is(err, f.store.putErr) {
		t.Errorf("Add = %v, want the store's error", err)
	}
	if _, found := f.svc.Get("new"); found {
		t.Error("Add that failed to store left a credential")
	}
	if _, err := f.svc.Rotate("app", 0); !errors.Is(err, f.store.putErr) {
		t.Errorf("Rotate = %v, want the store's error", err)
	}
	if err := f.svc.SetDisabled("app", true); !errors.Is(err, f.store.putErr) {
		t.Errorf("SetDisabled = %v, want the store's error", err)
	}
	if err := f.svc.Remove("app"); !errors.Is(err, f.store.deleteErr) {
		t.Errorf("Remove = %v, want the store's error", err)
	}
	if !ok(f.svc, "app", pw) {
		t.Error("failed writes changed the credential in memory")
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 || p[0] == '-' || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("password %q: want 32 chars of [A-Za-z0-9_-], not starting with '-'", p)
		}
		if seen[p] {
			t.Fatalf("password %q generated twice", p)
		}
		seen[p] = true
	}
}
