package spool

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

// PutCredential stores a credential record durably.
func (s *Spool) PutCredential(name string, rec []byte) error {
	rec = append([]byte(nil), rec...)
	return s.update(func(t *txn) error {
		return t.tx.Bucket(bucketCreds).Put([]byte(name), rec)
	})
}

// DeleteCredential removes a credential record.
func (s *Spool) DeleteCredential(name string) error {
	return s.update(func(t *txn) error {
		return t.tx.Bucket(bucketCreds).Delete([]byte(name))
	})
}
