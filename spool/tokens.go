package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// AdminToken is a token of the admin API made at run time (relayctl token
// add), kept beside --admin-tokens. Only the SHA-256 of its secret is
// stored: the secret is shown once, in the answer to its add. A secret is
// 32 random bytes, so a plain hash is enough; there is nothing to guess.
type AdminToken struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Sum       []byte    `json:"sum"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// SignInLink is a one-time sign-in link to the web console (relayctl
// console-link), keyed by the SHA-256 of its code. It is good once,
// until Expires.
type SignInLink struct {
	Name      string    `json:"name"` // the console session's name, for the audit
	Role      string    `json:"role"`
	Expires   time.Time `json:"expires"`
	Used      bool      `json:"used,omitempty"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// Sign-in links that cannot be used: the console tells them apart so that
// the person who followed one knows why.
var (
	ErrLinkUsed    = errors.New("this sign-in link was already used")
	ErrLinkExpired = errors.New("this sign-in link has expired")
)

// linkKeep is how long a used or expired link is kept, so that following
// it again says "used" or "expired" rather than "unknown".
const linkKeep = 24 * time.Hour

// HashSecret is the key under which a token or link secret is stored.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// AddToken stores a runtime admin token, with the audit entry rec if set
// and its token.added event. A taken name is ErrExists.
func (s *Spool) AddToken(tok AdminToken, rec *AuditEntry) error {
	if tok.Name == "" || len(tok.Sum) != sha256.Size {
		return errors.New("add token: a name and a secret's hash are required")
	}
	v, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	return s.updateAudited(rec, func(t *txn, e *AuditEntry) error {
		t.notify(noticeRecords, RecordsTokens)
		b := t.tx.Bucket(bucketTokens)
		if b.Get([]byte(tok.Name)) != nil {
			return fmt.Errorf("token %q: %w", tok.Name, ErrExists)
		}
		if err := b.Put([]byte(tok.Name), v); err != nil {
			return err
		}
		_, err := t.emitJSON(EvTokenAdded, tok.Created, adminData{Token: tok.Name, Role: tok.Role, Actor: eventActor(tok.CreatedBy)}, "")
		return err
	})
}

// RemoveToken deletes a runtime admin token, with the audit entry rec if
// set and its token.removed event.
func (s *Spool) RemoveToken(name string, rec *AuditEntry) error {
	return s.updateAudited(rec, func(t *txn, e *AuditEntry) error {
		t.notify(noticeRecords, RecordsTokens)
		b := t.tx.Bucket(bucketTokens)
		if b.Get([]byte(name)) == nil {
			return notFound(fmt.Sprintf("no such token %q (tokens of --admin-tokens are removed from the settings)", name))
		}
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		at, actor := time.Now(), ""
		if e != nil {
			at, actor = e.Time, e.Actor
		}
		_, err := t.emitJSON(EvTokenRemoved, at, adminData{Token: name, Actor: eventActor(actor)}, "")
		return err
	})
}

// Tokens returns the runtime admin tokens, by name.
func (s *Spool) Tokens() ([]AdminToken, error) {
	var out []AdminToken
	err := s.view(func(t *txn) error {
		out = out[:0]
		return t.tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var tok AdminToken
			if err := json.Unmarshal(v, &tok); err != nil {
				return fmt.Errorf("decode token %q: %w", k, err)
			}
			out = append(out, tok)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// AddSignInLink stores a sign-in link under the hash of its code, with
// the audit entry rec if set, and forgets links past their keep.
func (s *Spool) AddSignInLink(sum []byte, l SignInLink, rec *AuditEntry) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		b := t.tx.Bucket(bucketSignIn)
		if err := forgetOldLinks(t, l.Created); err != nil {
			return err
		}
		return b.Put([]byte(hex.EncodeToString(sum)), v)
	})
}

func forgetOldLinks(t *txn, now time.Time) error {
	b := t.tx.Bucket(bucketSignIn)
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var l SignInLink
		if json.Unmarshal(v, &l) != nil || now.Sub(l.Expires) > linkKeep {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range old {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// UseSignInLink marks the link whose code hashes to sum used, with the
// audit entry rec if set, and returns it. A link used before is
// ErrLinkUsed, one past Expires ErrLinkExpired, an unknown one
// ErrNotFound: none of them changes anything. rec's actor becomes the
// session's, console:NAME, as in its later entries.
func (s *Spool) UseSignInLink(sum []byte, now time.Time, rec *AuditEntry) (SignInLink, error) {
	var l SignInLink
	key := []byte(hex.EncodeToString(sum))
	err := s.updateAudited(rec, func(t *txn, e *AuditEntry) error {
		b := t.tx.Bucket(bucketSignIn)
		v := b.Get(key)
		if v == nil {
			return notFound("no such sign-in link")
		}
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("decode sign-in link: %w", err)
		}
		switch {
		case l.Used:
			return ErrLinkUsed
		case !now.Before(l.Expires):
			return ErrLinkExpired
		}
		l.Used = true
		if e != nil { // the session it opens is the actor, as in its later entries
			e.Actor, e.Detail = "console:"+l.Name, "role="+l.Role
		}
		nv, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return b.Put(key, nv)
	})
	return l, err
}
