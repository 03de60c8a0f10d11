package spool

import (
	"sync"

	"github.com/holdrelay/relay/spool/kv"
)

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
// and event staged for it by AuditCredential, if any.
func (s *Spool) PutCredential(name string, rec []byte) error {
	rec = append([]byte(nil), rec...)
	return s.writeCredential(name, func(b kv.Bucket) error { return b.Put([]byte(name), rec) })
}

// DeleteCredential removes a credential record, writing the audit entry
// and event staged for it by AuditCredential, if any.
func (s *Spool) DeleteCredential(name string) error {
	return s.writeCredential(name, func(b kv.Bucket) error { return b.Delete([]byte(name)) })
}

// writeCredential changes name's record with what was staged for it: the
// event is written here, whether or not the entry was written before (an
// enable's is, by the unfreeze), since this is the change it reports.
func (s *Spool) writeCredential(name string, change func(b kv.Bucket) error) error {
	st := s.credAudits.take(name)
	return s.updateAudited(st.rec, func(t *txn, e *AuditEntry) error {
		t.notify(noticeRecords, RecordsCredentials)
		if err := change(t.tx.Bucket(bucketCreds)); err != nil {
			return err
		}
		if st.event == "" || e == nil {
			return nil
		}
		_, err := t.emitJSON(st.event, e.Time, adminData{Credential: name, Actor: eventActor(e.Actor), Reason: e.Reason}, "")
		return err
	})
}

// AuditCredential has the next write of name's credential record (by
// package auth, through PutCredential or DeleteCredential) write rec in
// the same transaction, and set its Seq, with the event of type event
// (EvCredentialAdded, ...; "" for a change no event reports): auth knows
// nothing of the audit log, and the record must not change off the
// record. The caller names the event, since only it knows which change
// auth is about to make. It must keep other changes of name out until it
// calls the returned unstage, which drops rec if no write took it (auth
// refused the change).
func (s *Spool) AuditCredential(name, event string, rec *AuditEntry) (unstage func()) {
	s.credAudits.stage(name, stagedAudit{rec: rec, event: event})
	return func() { s.credAudits.take(name) }
}

// stagedAudit is what AuditCredential staged for a credential's write.
type stagedAudit struct {
	rec   *AuditEntry
	event string
}

// stagedAudits holds what AuditCredential staged, by name.
type stagedAudits struct {
	mu sync.Mutex
	m  map[string]stagedAudit
}

func (a *stagedAudits) stage(name string, st stagedAudit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]stagedAudit{}
	}
	a.m[name] = st
}

func (a *stagedAudits) take(name string) stagedAudit {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.m[name]
	delete(a.m, name)
	return st
}
