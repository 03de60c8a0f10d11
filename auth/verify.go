package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
)

// Verify checks a login. Any failure, whatever its cause, is
// ErrBadCredentials; the cause goes to the debug log, never the password.
func (s *Service) Verify(username, password string) (Credential, error) {
	c, _, err := s.Authenticate(username, password)
	return c, err
}

// Login is proof of a successful authentication, bound to the password
// that was used: Check tells whether that password still works.
type Login struct {
	Name string
	hash string // the PHC string the password matched
}

// Authenticate is Verify that also returns a Login to Check later, so that
// a session learns when the password it logged in with has died.
func (s *Service) Authenticate(username, password string) (Credential, Login, error) {
	mac := s.cache.mac(password)
	for range verifyAttempts {
		e := s.entry(username)
		if e == nil || e.rec.Disabled {
			s.burn(e, password)
			s.logFailure(username, e)
			return Credential{}, Login{}, ErrBadCredentials
		}
		now := s.clock()
		hashes := e.accepted(now)
		for _, h := range hashes {
			if s.cache.hit(username, h.encoded, mac) {
				return e.public(now), Login{Name: username, hash: h.encoded}, nil
			}
		}
		h, ok := s.match(hashes, password)
		if !ok {
			s.logFailure(username, e)
			return Credential{}, Login{}, ErrBadCredentials
		}
		if s.remember(username, e, h, mac) {
			return e.public(now), Login{Name: username, hash: h.encoded}, nil
		}
		// The credential changed while we hashed: judge the password
		// against what it is now, or a just-rotated password could pass.
	}
	return Credential{}, Login{}, ErrBadCredentials
}

// Remembered is Authenticate's fast path alone: it succeeds only for a
// password that this process has already verified with argon2 for
// username and that still works, and does no argon2 work. A false answer
// says nothing about the password: Authenticate decides.
func (s *Service) Remembered(username, password string) (Credential, Login, bool) {
	e := s.entry(username)
	if e == nil || e.rec.Disabled {
		return Credential{}, Login{}, false
	}
	mac := s.cache.mac(password)
	now := s.clock()
	for _, h := range e.accepted(now) {
		if s.cache.hit(username, h.encoded, mac) {
			return e.public(now), Login{Name: username, hash: h.encoded}, true
		}
	}
	return Credential{}, Login{}, false
}

// Check returns the credential a login belongs to, as it is now, if the
// password used for the login still works: not rotated away (or past its
// grace period), the credential neither disabled nor removed.
func (s *Service) Check(l Login) (Credential, bool) {
	e := s.entry(l.Name)
	if e == nil || e.rec.Disabled || l.hash == "" {
		return Credential{}, false
	}
	now := s.clock()
	for _, h := range e.accepted(now) {
		if h.encoded == l.hash {
			return e.public(now), true
		}
	}
	return Credential{}, false
}

// OnChange registers fn to be called, outside any lock, with the name of
// every credential that is changed, rotated, disabled or removed, so that
// the SMTP intake can close sessions whose login has died.
func (s *Service) OnChange(fn func(name string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

func (s *Service) changed(name string) {
	s.mu.RLock()
	hooks := slices.Clone(s.hooks)
	s.mu.RUnlock()
	for _, fn := range hooks {
		fn(name)
	}
}

func (s *Service) match(hashes []phcHash, password string) (phcHash, bool) {
	for _, h := range hashes {
		if s.matches(h, password) {
			return h, true
		}
	}
	return phcHash{}, false
}

// remember caches a successful login if e is still the current entry. The
// read lock orders this against update and Remove, which forget the name
// under the write lock, so no entry for a replaced hash survives them.
func (s *Service) remember(name string, e *entry, h phcHash, mac [sha256.Size]byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.creds[name] != e {
		return false
	}
	s.cache.put(name, h.encoded, mac)
	return true
}

// burn spends the work of one real check so that an unknown name or a
// disabled credential answers no faster than a wrong password.
func (s *Service) burn(e *entry, password string) {
	h := s.dummy
	if e != nil {
		h = e.cur
	}
	s.matches(h, password)
}

func (s *Service) logFailure(name string, e *entry) {
	switch {
	case e == nil:
		// The name is not logged: it may be a mistyped password.
		s.log.Debug("login failed: unknown credential")
	case e.rec.Disabled:
		s.log.Debug("login failed: credential disabled", "credential", name)
	default:
		s.log.Debug("login failed: wrong password", "credential", name)
	}
}

// matches and newHash wait for the semaphore: each argon2 call holds
// MemoryKiB of memory, so a flood of logins must queue, not allocate.
func (s *Service) matches(h phcHash, password string) bool {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	s.argonRuns.Add(1)
	return h.matches(password)
}

func (s *Service) newHash(password string) phcHash {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	return newHash(password, s.params)
}

// GeneratePassword returns 192 random bits as 32 characters of
// [A-Za-z0-9_-], which need no quoting in URLs, YAML or a shell. It never
// starts with '-', so it cannot be mistaken for a command-line flag.
func GeneratePassword() (string, error) {
	var b [24]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if p := base64.RawURLEncoding.EncodeToString(b[:]); p[0] != '-' {
			return p, nil
		}
	}
}
