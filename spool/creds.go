package spool

import "sync"

// The credential records belong to package auth; the spool only keeps them
// in its file, so that one backup holds both. These three methods make
// *Spool an auth.Store.

// LoadCredentials returns every credential record by name.
func (s *Spool) LoadCredentials() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(func(t *txn) error {
		return t.tx.Bucket(bucketCreds).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// PutCredential stores a credential record durably, with the audit entry
// staged for it by AuditCredential, if any.
func (s *Spool) PutCredential(name string, rec []byte) error {
	rec = append([]byte(nil), rec...)
	return s.updateAudited(s.credAudits.take(name), func(t *txn, _ *AuditEntry) error {
		return t.tx.Bucket(bucketCreds).Put([]byte(name), rec)
	})
}

// DeleteCredential removes a credential record, writing the audit entry
// staged for it by AuditCredential, if any.
func (s *Spool) DeleteCredential(name string) error {
	return s.updateAudited(s.credAudits.take(name), func(t *txn, _ *AuditEntry) error {
		return t.tx.Bucket(bucketCreds).Delete([]byte(name))
	})
}

// AuditCredential has the next write of name's credential record (by
// package auth, through PutCredential or DeleteCredential) write rec in
// the same transaction, and set its Seq: auth knows nothing of the audit
// log, and the record must not change off the record. The caller must
// keep other changes of name out until it calls the returned unstage,
// which drops rec if no write took it (auth refused the change).
func (s *Spool) AuditCredential(name string, rec *AuditEntry) (unstage func()) {
	s.credAudits.stage(name, rec)
	return func() { s.credAudits.take(name) }
}

// stagedAudits holds the audit entries AuditCredential staged, by name.
type stagedAudits struct {
	mu sync.Mutex
	m  map[string]*AuditEntry
}

func (a *stagedAudits) stage(name string, rec *AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]*AuditEntry{}
	}
	a.m[name] = rec
}

func (a *stagedAudits) take(name string) *AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.m[name]
	delete(a.m, name)
	return rec
}
