// Package auth owns the relay's credentials (one per sending application),
// their password hashes, password verification, and the SASL PLAIN and LOGIN
// servers that SMTP intake plugs into go-smtp. It imports no other package of
// this project; the spool persists its records through the Store interface.
//
// Invariants:
//   - No password, right or wrong, is ever stored or logged. A record holds
//     argon2id hashes in PHC form; passwords exist only in the return value
//     of Add and Rotate and in the arguments of Verify.
//   - Every change is written to the Store before memory reflects it, so a
//     failed write leaves the Service as it was.
//   - Verify answers ErrBadCredentials for every kind of failure, after the
//     same argon2 work for an unknown name, a disabled credential and a
//     wrong password, so neither the error nor (roughly) the time tells them
//     apart. A credential inside a rotation grace period is the exception:
//     a wrong password is checked against both hashes and costs twice.
//   - Verify holds no lock while hashing, and at most runtime.NumCPU() argon2
//     computations run at once, however many logins arrive.
//   - After Rotate without grace, SetDisabled(true) or Remove returns, no
//     Verify that starts later accepts the old password.
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store persists credential records as opaque bytes; the spool implements it.
type Store interface {
	LoadCredentials() (map[string][]byte, error)
	PutCredential(name string, rec []byte) error
	DeleteCredential(name string) error
}

// Credential is the public view of a credential: it never carries a hash or
// a password, so it may be logged and sent over the admin API as is.
type Credential struct {
	Name            string
	Description     string
	Created         time.Time
	Disabled        bool
	Hold            *time.Duration // per-credential hold window; nil = use the global one
	PasswordChanged time.Time
	GraceUntil      time.Time // zero unless an old password is still accepted until then
	AllowedSenders  []string  // addresses or @domains MAIL FROM and From: must match; none: any
	MaxMessageSize  int64     // bytes; 0: the relay's limit
	RateLimit       int       // messages per minute; 0: unlimited
	// Upstream and UpstreamFallback are the credential's own upstream
	// URLs; "" means relayd's global one. They may hold a password:
	// never show them unredacted.
	Upstream         string
	UpstreamFallback string
	// BrakeDuplicates and BrakeRate are the runaway brake's thresholds
	// for this credential; nil = the relay's global ones, 0 = off.
	BrakeDuplicates *int
	BrakeRate       *int
}

// Upper bounds of the brake thresholds: beyond them a trigger could
// never fire in practice, and the detector's memory would grow with them.
// Turn a trigger off with 0 instead.
const (
	MaxBrakeDuplicates = 10000
	MaxBrakeRate       = 1000000
)

// Options configure a Service. The zero value is ready for production.
type Options struct {
	Params Params           // zero value = DefaultParams
	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = slog.Default()
}

var (
	// ErrBadCredentials covers a wrong user or password and a disabled
	// credential alike; callers map it to SMTP 535 5.7.8.
	ErrBadCredentials = errors.New("auth: bad credentials")
	ErrExists         = errors.New("auth: credential already exists")
	ErrNotFound       = errors.New("auth: no such credential")
	// ErrInvalidName: names are 1-64 characters of [a-z0-9._-], starting
	// with a letter or digit, so they are safe in paths, URLs and logs.
	ErrInvalidName = errors.New("auth: invalid credential name")
	// ErrNegativeDuration rejects a negative hold window or grace period.
	ErrNegativeDuration = errors.New("auth: negative duration")
)

// verifyAttempts bounds how often Verify starts over when the credential
// changes while it hashes.
const verifyAttempts = 3

// Service is the set of credentials. It is safe for concurrent use.
type Service struct {
	store  Store
	params Params
	now    func() time.Time
	log    *slog.Logger
	cache  *loginCache
	sem    chan struct{} // bounds concurrent argon2 computations
	dummy  phcHash       // hashed against for unknown names

	argonRuns atomic.Int64 // argon2 checks so far; tests use it to see cache hits

	mu    sync.RWMutex
	creds map[string]*entry // entries are immutable: changes replace them
	hooks []func(name string)
}

// New loads every record from store into memory. It fails on a record it
// cannot read rather than start with a credential silently missing.
func New(store Store, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("auth: nil store")
	}
	s := &Service{
		store:  store,
		params: opts.Params,
		now:    opts.Now,
		log:    opts.Logger,
		cache:  newLoginCache(),
		sem:    make(chan struct{}, runtime.NumCPU()),
		creds:  make(map[string]*entry),
	}
	if s.params == (Params{}) {
		s.params = DefaultParams
	}
	if err := s.params.validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	recs, err := store.LoadCredentials()
	if err != nil {
		return nil, fmt.Errorf("auth: load credentials: %w", err)
	}
	for name, data := range recs {
		e, err := decodeEntry(name, data)
		if err != nil {
			return nil, fmt.Errorf("auth: credential %q: %w", name, err)
		}
		s.creds[name] = e
	}
	dummy, err := GeneratePassword()
	if err != nil {
		return nil, err
	}
	s.dummy = newHash(dummy, s.params)
	return s, nil
}

// Reload reads every record from the store again, for a store that
// others change too (a spool shared by several relayd nodes): memory
// then matches the store, and the credentials that changed or went are
// forgotten by the login cache and reported to OnChange, as a change made
// here would be. A record that cannot be read fails the whole reload and
// keeps every credential as it was, rather than lose one.
func (s *Service) Reload() error {
	changed, err := s.reload()
	if err != nil {
		return err
	}
	for _, name := range changed {
		s.changed(name)
	}
	return nil
}

// reload swaps the records in under the write lock, so that a change
// made here meanwhile is either in what it reads or made after it.
func (s *Service) reload() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.store.LoadCredentials()
	if err != nil {
		return nil, fmt.Errorf("auth: reload credentials: %w", err)
	}
	fresh := make(map[string]*entry, len(recs))
	for name, data := range recs {
		e, err := decodeEntry(name, data)
		if err != nil {
			return nil, fmt.Errorf("auth: reload credential %q: %w", name, err)
		}
		fresh[name] = e
	}
	var changed []string
	for name, old := range s.creds {
		if e, ok := fresh[name]; !ok || !sameRecord(old, e) {
			changed = append(changed, name)
		}
	}
	for name := range fresh {
		if _, ok := s.creds[name]; !ok {
			changed = append(changed, name)
		}
	}
	for _, name := range changed {
		if e, ok := fresh[name]; ok {
			s.creds[name] = e
		} else {
			delete(s.creds, name)
		}
		s.cache.forget(name)
	}
	slices.Sort(changed)
	return changed, nil
}

// sameRecord compares two entries by what they store.
func sameRecord(a, b *entry) bool {
	x, errA := a.encode()
	y, errB := b.encode()
	return errA == nil && errB == nil && string(x) == string(y)
}

// ValidName reports whether name may name a credential.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Add creates a credential with a generated password, which is returned
// here once and never again.
func (s *Service) Add(name, description string, hold *time.Duration) (Credential, string, error) {
	return s.Create(name, Settings{Description: description, Hold: hold})
}

// Create is Add with every setting.
func (s *Service) Create(name string, set Settings) (Credential, string, error) {
	if !ValidName(name) {
		return Credential{}, "", fmt.Errorf("auth: add %q: %w", name, ErrInvalidName)
	}
	if err := set.validate(); err != nil {
		return Credential{}, "", fmt.Errorf("auth: add %q: %w", name, err)
	}
	if _, ok := s.Get(name); ok {
		return Credential{}, "", fmt.Errorf("auth: add %q: %w", name, ErrExists)
	}
	password, err := GeneratePassword()
	if err != nil {
		return Credential{}, "", err
	}
	h := s.newHash(password)
	now := s.clock()
	e := &entry{
		rec: record{Version: recordVersion, Name: name, Created: now, Hash: h.encoded, PasswordChanged: now},
		cur: h,
	}
	set.apply(e)

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.creds[name]; ok {
		return Credential{}, "", fmt.Errorf("auth: add %q: %w", name, ErrExists)
	}
	if err := s.put(e); err != nil {
		return Credential{}, "", err
	}
	s.creds[name] = e
	s.log.Info("credential added", "credential", name)
	return e.public(now), password, nil
}

// Get returns the credential called name.
func (s *Service) Get(name string) (Credential, bool) {
	e := s.entry(name)
	if e == nil {
		return Credential{}, false
	}
	return e.public(s.clock()), true
}

// List returns every credential, sorted by name.
func (s *Service) List() []Credential {
	now := s.clock()
	s.mu.RLock()
	list := make([]Credential, 0, len(s.creds))
	for _, e := range s.creds {
		list = append(list, e.public(now))
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b Credential) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// Len returns the number of credentials.
func (s *Service) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.creds)
}

// Rotate gives the credential a new password and returns it. With grace 0
// the old password fails at once; otherwise it keeps working until
// now+grace. Only one old password is kept: rotating again during a grace
// period ends the earlier one.
func (s *Service) Rotate(name string, grace time.Duration) (string, error) {
	if grace < 0 {
		return "", fmt.Errorf("auth: rotate %q: grace %v: %w", name, grace, ErrNegativeDuration)
	}
	if _, ok := s.Get(name); !ok {
		return "", fmt.Errorf("auth: rotate %q: %w", name, ErrNotFound)
	}
	password, err := GeneratePassword()
	if err != nil {
		return "", err
	}
	h := s.newHash(password)
	now := s.clock()

	err = s.update(name, "rotate", func(e *entry) {
		e.rec.PrevHash, e.prev, e.rec.GraceUntil = "", nil, time.Time{}
		if grace > 0 {
			old := e.cur
			e.rec.PrevHash, e.prev, e.rec.GraceUntil = old.encoded, &old, now.Add(grace)
		}
		e.rec.Hash, e.cur, e.rec.PasswordChanged = h.encoded, h, now
	})
	if err != nil {
		return "", err
	}
	s.log.Info("credential password rotated", "credential", name, "grace", grace)
	s.changed(name)
	return password, nil
}

// SetDisabled disables or re-enables a credential. A disabled credential
// fails Verify exactly like a wrong password.
func (s *Service) SetDisabled(name string, disabled bool) error {
	err := s.update(name, "set disabled", func(e *entry) { e.rec.Disabled = disabled })
	if err == nil {
		s.log.Info("credential changed", "credential", name, "disabled", disabled)
		s.changed(name)
	}
	return err
}

// Remove deletes a credential.
func (s *Service) Remove(name string) error {
	if err := s.remove(name); err != nil {
		return err
	}
	s.log.Info("credential removed", "credential", name)
	s.changed(name)
	return nil
}

func (s *Service) remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.creds[name]; !ok {
		return fmt.Errorf("auth: remove %q: %w", name, ErrNotFound)
	}
	if err := s.store.DeleteCredential(name); err != nil {
		return fmt.Errorf("auth: remove %q: %w", name, err)
	}
	delete(s.creds, name)
	s.cache.forget(name)
	return nil
}

// update applies change to a copy of the named entry, persists the copy,
// then swaps it in, all under the write lock so that store and memory see
// changes in the same order.
func (s *Service) update(name, op string, change func(*entry)) error {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.creds[name]
	if !ok {
		return fmt.Errorf("auth: %s %q: %w", op, name, ErrNotFound)
	}
	e := old.clone(now)
	change(e)
	if err := s.put(e); err != nil {
		return err
	}
	s.creds[name] = e
	s.cache.forget(name)
	return nil
}

func (s *Service) put(e *entry) error {
	data, err := e.encode()
	if err != nil {
		return fmt.Errorf("auth: encode %q: %w", e.rec.Name, err)
	}
	if err := s.store.PutCredential(e.rec.Name, data); err != nil {
		return fmt.Errorf("auth: store %q: %w", e.rec.Name, err)
	}
	return nil
}

func (s *Service) entry(name string) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.creds[name]
}

// clock strips the monotonic reading and the zone so that times compare
// equal after a round trip through JSON.
func (s *Service) clock() time.Time {
	return s.now().Round(0).UTC()
}
