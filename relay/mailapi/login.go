package mailapi

import (
	"crypto/sha256"
	"net/netip"
	"sync"

	"github.com/holdrelay/relay/auth"
)

// logins lets one check of a key run at a time. Every request carries
// the key, so an application starting with twenty requests at once would
// otherwise start twenty argon2 checks of the same password, and the
// failed-login throttle, which counts checks in flight, would turn some of
// them away (429). The requests that wait then find the key in the login
// cache, which costs no argon2 and counts nothing.
type logins struct {
	mu      sync.Mutex
	flights map[[sha256.Size]byte]chan struct{}
}

// check runs login for the key, after any check of the same key in
// flight has ended.
func (l *logins) check(name, password string, remote netip.Addr,
	login func(netip.Addr, string, string) (auth.Credential, auth.Login, error)) (auth.Credential, auth.Login, error) {
	k := sha256.Sum256([]byte(name + "\x00" + password))
	for {
		l.mu.Lock()
		if l.flights == nil {
			l.flights = map[[sha256.Size]byte]chan struct{}{}
		}
		wait, busy := l.flights[k]
		if !busy {
			done := make(chan struct{})
			l.flights[k] = done
			l.mu.Unlock()
			defer func() {
				l.mu.Lock()
				delete(l.flights, k)
				l.mu.Unlock()
				close(done)
			}()
			return login(remote, name, password)
		}
		l.mu.Unlock()
		<-wait
	}
}
