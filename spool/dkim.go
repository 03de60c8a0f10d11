package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DKIMKey is a DKIM signing key: the spool keeps it, package dkim makes
// and uses it. PrivateKey is opaque here (PKCS#8 DER); it is stored so
// that relayd can sign, and must never leave relayd: the only thing shown
// of a key is the public DNS record, which package dkim derives from it.
type DKIMKey struct {
	Domain     string    `json:"domain"`
	Selector   string    `json:"selector"`
	Algorithm  string    `json:"algorithm"` // "rsa" or "ed25519"
	PrivateKey []byte    `json:"private_key"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
}

// dkimKey is a key's place in the dkim bucket: domain, 0x00, selector, so
// that one domain's selectors sit together.
func dkimKey(domain, selector string) []byte {
	k := make([]byte, 0, len(domain)+1+len(selector))
	k = append(k, domain...)
	k = append(k, 0)
	return append(k, selector...)
}

// AddDKIMKey stores a new key, with the audit entry rec if set and a
// dkim.added event, in one transaction. A domain and selector already
// taken is ErrExists.
func (s *Spool) AddDKIMKey(k DKIMKey, rec *AuditEntry) error {
	if k.Domain == "" || k.Selector == "" || len(k.PrivateKey) == 0 {
		return errors.New("add dkim key: domain, selector and key are required")
	}
	v, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return s.updateAudited(rec, func(t *txn, e *AuditEntry) error {
		t.notify(noticeRecords, RecordsDKIM)
		b := t.tx.Bucket(bucketDKIM)
		key := dkimKey(k.Domain, k.Selector)
		if b.Get(key) != nil {
			return fmt.Errorf("dkim key %s for %s: %w", k.Selector, k.Domain, ErrExists)
		}
		if err := b.Put(key, v); err != nil {
			return err
		}
		return t.emitDKIM(EvDKIMAdded, k.Domain, k.Selector, k.Created, e)
	})
}

// RemoveDKIMKey deletes a domain's key of that selector, with the audit
// entry rec if set and a dkim.removed event, in one transaction.
func (s *Spool) RemoveDKIMKey(domain, selector string, rec *AuditEntry) error {
	return s.updateAudited(rec, func(t *txn, e *AuditEntry) error {
		t.notify(noticeRecords, RecordsDKIM)
		b := t.tx.Bucket(bucketDKIM)
		key := dkimKey(domain, selector)
		if b.Get(key) == nil {
			return notFound(fmt.Sprintf("no dkim key %q for %s", selector, domain))
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		return t.emitDKIM(EvDKIMRemoved, domain, selector, time.Now(), e)
	})
}

func (t *txn) emitDKIM(typ, domain, selector string, at time.Time, e *AuditEntry) error {
	actor := ""
	if e != nil {
		at, actor = e.Time, e.Actor
	}
	_, err := t.emitJSON(typ, at, adminData{Domain: domain, Selector: selector, Actor: eventActor(actor)}, "")
	return err
}

// DKIMKeys returns every key, by domain then selector.
func (s *Spool) DKIMKeys() ([]DKIMKey, error) {
	var out []DKIMKey
	err := s.view(func(t *txn) error {
		out = out[:0]
		return t.tx.Bucket(bucketDKIM).ForEach(func(k, v []byte) error {
			var key DKIMKey
			if err := json.Unmarshal(v, &key); err != nil {
				return fmt.Errorf("decode dkim key %q: %w", k, err)
			}
			out = append(out, key)
			return nil
		})
	})
	return out, err
}
