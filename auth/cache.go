package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
)

// loginCache remembers logins that passed argon2, so that a client opening
// one connection per message pays for the hash once, not every time.
//
// Why this is safe: the cache lives only in this process's memory and holds
// HMAC-SHA256 values, never passwords, keyed with 32 random bytes drawn at
// start and never written anywhere. Without the key an entry cannot be tested
// against guesses. Whoever can read the key out of memory can also read the
// passwords arriving in AUTH commands, and still faces 192-bit random
// passwords that no fast hash makes guessable. Each entry is
// bound to the exact stored hash string it was verified against: rotation
// writes a new hash, so old entries stop matching even before they are
// forgotten explicitly. Only successful logins are stored, at most two per
// credential (the current and the grace password), so a flood of wrong
// passwords cannot grow it.
type loginCache struct {
	key [32]byte

	mu      sync.Mutex
	entries map[string][]cacheEntry // by credential name
}

type cacheEntry struct {
	hash string // encoded PHC string the password was verified against
	mac  [sha256.Size]byte
}

// entriesPerName allows the new and the old password during a grace period.
const entriesPerName = 2

func newLoginCache() *loginCache {
	c := &loginCache{entries: make(map[string][]cacheEntry)}
	rand.Read(c.key[:]) // never returns an error; it crashes the program instead
	return c
}

func (c *loginCache) mac(password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(password))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// hit reports whether a login with this mac already passed against hash.
func (c *loginCache) hit(name, hash string, mac [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries[name] {
		if e.hash == hash && subtle.ConstantTimeCompare(e.mac[:], mac[:]) == 1 {
			return true
		}
	}
	return false
}

func (c *loginCache) put(name, hash string, mac [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.entries[name][:0:0]
	for _, e := range c.entries[name] {
		if e.hash != hash {
			kept = append(kept, e)
		}
	}
	if len(kept) >= entriesPerName {
		kept = kept[len(kept)-entriesPerName+1:]
	}
	c.entries[name] = append(kept, cacheEntry{hash: hash, mac: mac})
}

func (c *loginCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
}

// len counts entries, for tests.
func (c *loginCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, es := range c.entries {
		n += len(es)
	}
	return n
}
