package spool

import (
	"encoding/binary"
	"fmt"
)

// ID identifies a message for life. See the package doc for how it is made.
type ID uint64

// crockford is Crockford's base32 alphabet in lower case: no i, l, o, u,
// and its characters sort in the order of their values.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// idLen is the length of an ID's text: 64 bits in 5-bit characters.
const idLen = 13

// String returns the 13-character text form.
func (id ID) String() string {
	var b [idLen]byte
	v := uint64(id)
	for i := idLen - 1; i >= 0; i-- {
		b[i] = crockford[v&31]
		v >>= 5
	}
	return string(b[:])
}

// ParseID parses the text form. It accepts upper case and the letters
// Crockford reads as digits (i, l as 1; o as 0), as people type them.
func ParseID(s string) (ID, error) {
	if len(s) != idLen {
		return 0, fmt.Errorf("invalid message ID %q: want %d characters", s, idLen)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := decodeChar(s[i])
		if d < 0 || (i == 0 && d > 15) {
			return 0, fmt.Errorf("invalid message ID %q", s)
		}
		v = v<<5 | uint64(d)
	}
	return ID(v), nil
}

func decodeChar(c byte) int {
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	switch c {
	case 'i', 'l':
		return 1
	case 'o':
		return 0
	}
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return i
		}
	}
	return -1
}

// MarshalText makes IDs appear in their text form in JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the text form.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func (id ID) key() []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return b[:]
}

func idFromKey(b []byte) ID { return ID(binary.BigEndian.Uint64(b)) }
