package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters for new hashes. A stored hash
// carries its own parameters, so changing them never locks anyone out.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
	KeyLen    uint32 // bytes of derived key
	SaltLen   int    // bytes of random salt
}

// DefaultParams is OWASP's argon2id baseline (m=19 MiB, t=2, p=1):
// https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id
// The passwords are 192-bit random strings, so the cost guards a leaked
// spool against nothing a brute force could win anyway; it is kept because
// operators may one day set their own passwords, and the login cache keeps
// it off the hot path.
var DefaultParams = Params{Time: 2, MemoryKiB: 19456, Threads: 1, KeyLen: 32, SaltLen: 16}

// TestParams cost microseconds instead of tens of milliseconds. For tests
// only: never use them for real credentials.
var TestParams = Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}

// Bounds on parameters read back from a stored hash, so a corrupt record
// cannot make one login allocate gigabytes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	minKeyLen    = 16
	maxKeyLen    = 64
	minSaltLen   = 8
	maxSaltLen   = 64
)

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d out of range 1-%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB out of range %d-%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 key length %d out of range %d-%d", p.KeyLen, minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 salt length %d out of range %d-%d", p.SaltLen, minSaltLen, maxSaltLen)
	}
	return nil
}

// phcHash is a parsed argon2id hash; encoded is the exact stored string,
// which the login cache uses as the identity of the hash.
type phcHash struct {
	params  Params
	salt    []byte
	key     []byte
	encoded string
}

// newHash derives a fresh hash of password with a random salt.
func newHash(password string, p Params) phcHash {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never returns an error; it crashes the program instead
	h := phcHash{params: p, salt: salt, key: derive(password, salt, p)}
	h.encoded = h.encode()
	return h
}

func derive(password string, salt []byte, p Params) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// matches reports whether password derives to h's key, in constant time.
func (h phcHash) matches(password string) bool {
	return subtle.ConstantTimeCompare(derive(password, h.salt, h.params), h.key) == 1
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

func (h phcHash) encode() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.MemoryKiB, h.params.Time, h.params.Threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parseHash accepts exactly the form encode writes, so every stored hash
// round-trips byte for byte and the cache may compare encoded strings.
func parseHash(s string) (phcHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phcHash{}, errors.New("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var p Params
	var err error
	if p.MemoryKiB, p.Time, p.Threads, err = parseCost(parts[3]); err != nil {
		return phcHash{}, err
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return phcHash{}, fmt.Errorf("bad salt: %w", err)
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return phcHash{}, fmt.Errorf("bad key: %w", err)
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(key))
	if err := p.validate(); err != nil {
		return phcHash{}, err
	}
	h := phcHash{params: p, salt: salt, key: key}
	if h.encoded = h.encode(); h.encoded != s {
		return phcHash{}, errors.New("non-canonical PHC string")
	}
	return h, nil
}

// parseCost parses "m=19456,t=2,p=1", in that order.
func parseCost(s string) (m, t uint32, p uint8, err error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, fmt.Errorf("bad argon2 parameters %q", s)
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return 0, 0, 0, fmt.Errorf("bad argon2 parameters %q", s)
		}
		bits := 32
		if name == "p=" {
			bits = 8
		}
		if v[i], err = strconv.ParseUint(digits, 10, bits); err != nil {
			return 0, 0, 0, fmt.Errorf("bad argon2 parameters %q: %w", s, err)
		}
	}
	return uint32(v[0]), uint32(v[1]), uint8(v[2]), nil
}
