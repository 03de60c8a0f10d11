package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// recordVersion is written into every record. New refuses a version it does
// not know instead of guessing at its fields.
const recordVersion = 1

// record is the stored form of a credential, as JSON. Example:
//
//	{"v":1,"name":"billing","created":"2025-01-02T03:04:05Z","hold":"2m0s",
//	 "hash":"$argon2id$v=19$m=19456,t=2,p=1$...$...",
//	 "password_changed":"2025-01-02T03:04:05Z",
//	 "prev_hash":"$argon2id$...","grace_until":"2025-01-03T03:04:05Z"}
type record struct {
	Version     int       `json:"v"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	Disabled    bool      `json:"disabled,omitempty"`
	// Hold is a time.Duration string; absent means the global hold window,
	// which "0s" (deliver at once) must not be confused with.
	Hold            string    `json:"hold,omitempty"`
	Hash            string    `json:"hash"`
	PasswordChanged time.Time `json:"password_changed"`
	// PrevHash is the password replaced by a rotation with grace; it is
	// accepted until GraceUntil.
	PrevHash   string    `json:"prev_hash,omitempty"`
	GraceUntil time.Time `json:"grace_until,omitzero"`
	// Restrictions; zero values mean none.
	AllowedSenders []string `json:"allowed_senders,omitempty"`
	MaxMessageSize int64    `json:"max_message_size,omitempty"`
	RateLimit      int      `json:"rate_limit,omitempty"` // messages per minute
	// Upstream URLs of the credential's own route; absent: the global ones.
	Upstream         string `json:"upstream,omitempty"`
	UpstreamFallback string `json:"upstream_fallback,omitempty"`
	// Runaway brake thresholds; absent means the relay's global value,
	// which 0 (the trigger off) must not be confused with.
	BrakeDuplicates *int `json:"brake_duplicates,omitempty"`
	BrakeRate       *int `json:"brake_rate,omitempty"`
}

// entry is a record with its hashes parsed. Entries are never modified once
// published in Service.creds, so Verify can use one without holding a lock.
type entry struct {
	rec  record
	hold *time.Duration
	cur  phcHash
	prev *phcHash // nil without a grace period
}

func decodeEntry(name string, data []byte) (*entry, error) {
	var e entry
	if err := json.Unmarshal(data, &e.rec); err != nil {
		return nil, err
	}
	if e.rec.Version != recordVersion {
		return nil, fmt.Errorf("unknown record version %d", e.rec.Version)
	}
	if !ValidName(name) {
		return nil, ErrInvalidName
	}
	if e.rec.Name != name {
		return nil, fmt.Errorf("record is named %q", e.rec.Name)
	}
	var err error
	if e.cur, err = parseHash(e.rec.Hash); err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	if e.rec.PrevHash != "" {
		prev, err := parseHash(e.rec.PrevHash)
		if err != nil {
			return nil, fmt.Errorf("previous hash: %w", err)
		}
		e.prev = &prev
	}
	if e.rec.Hold != "" {
		d, err := time.ParseDuration(e.rec.Hold)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, errors.New("negative hold")
		}
		e.hold = &d
	}
	return &e, nil
}

func (e *entry) encode() ([]byte, error) {
	return json.Marshal(e.rec)
}

// clone copies e for a change, dropping a grace period that has ended so
// the dead hash leaves the store with the next write.
func (e *entry) clone(now time.Time) *entry {
	c := *e
	if !e.inGrace(now) {
		c.rec.PrevHash, c.prev, c.rec.GraceUntil = "", nil, time.Time{}
	}
	return &c
}

func (e *entry) inGrace(now time.Time) bool {
	return e.prev != nil && now.Before(e.rec.GraceUntil)
}

// accepted lists the hashes a password may match at now, newest first.
func (e *entry) accepted(now time.Time) []phcHash {
	if e.inGrace(now) {
		return []phcHash{e.cur, *e.prev}
	}
	return []phcHash{e.cur}
}

func (e *entry) public(now time.Time) Credential {
	c := Credential{
		Name:             e.rec.Name,
		Description:      e.rec.Description,
		Created:          e.rec.Created,
		Disabled:         e.rec.Disabled,
		PasswordChanged:  e.rec.PasswordChanged,
		AllowedSenders:   append([]string(nil), e.rec.AllowedSenders...),
		MaxMessageSize:   e.rec.MaxMessageSize,
		RateLimit:        e.rec.RateLimit,
		Upstream:         e.rec.Upstream,
		UpstreamFallback: e.rec.UpstreamFallback,
		BrakeDuplicates:  copyInt(e.rec.BrakeDuplicates),
		BrakeRate:        copyInt(e.rec.BrakeRate),
	}
	if e.hold != nil {
		d := *e.hold
		c.Hold = &d
	}
	if e.inGrace(now) {
		c.GraceUntil = e.rec.GraceUntil
	}
	return c
}

func copyInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
