package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// getBackup answers GET /v1/backup with a consistent copy of the spool
// file (spool.Backup), taken while relayd runs on: messages,
// credentials' hashes, webhooks' secrets. Hence the operator's alone.
// Content-Length is the copy's size, so a client tells a cut copy from a
// whole one. The copy may take long, but each write gets its own
// deadline: a client that stops reading would otherwise hold the copy's
// read transaction, and the spool pages it pins, for as long as it likes.
//
// The copy holds every secret relayd keeps, so it is audited like a
// change: no copy leaves without its entry, which ends up saying how
// many bytes went out.
func (s *Server) getBackup(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.o.Spool.AddAudit(spool.AuditEntry{Time: s.now(), Actor: callerOf(r).actor, Action: "backup", Detail: "started"})
	if err != nil {
		return err
	}
	defer func() {
		if err := s.o.Spool.PutAudit(&rec); err != nil {
			s.log.Error("backup's audit entry not updated", "err", err)
		}
	}()
	started := false
	n, err := s.o.Spool.Backup(progressWriter{w, http.NewResponseController(w)}, func(size int64) {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", `attachment; filename="relay-spool-`+s.now().UTC().Format("20060102T150405Z")+`.db"`)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
	rec.Detail = fmt.Sprintf("%d bytes", n)
	if errors.Is(err, spool.ErrUnsupported) {
		rec.Detail = "refused: the spool is kept in PostgreSQL"
		return &apiError{status: http.StatusBadRequest, code: admin.CodeInvalid, err: err,
			msg: "this relayd's spool is kept in PostgreSQL, which relayctl backup cannot copy: back it up with PostgreSQL's own tools (pg_dump, or your database's backups)"}
	}
	if err != nil {
		rec.Detail += " of a copy cut short"
	}
	if err != nil && !started {
		return err // nothing sent yet: an ordinary error answer
	}
	if err != nil {
		// Too late for an error answer: the client sees fewer bytes than
		// Content-Length announced.
		s.log.Warn("backup not sent whole", "actor", callerOf(r).actor, "bytes", n, "err", err)
		return nil
	}
	s.log.Info("backup sent", "actor", callerOf(r).actor, "bytes", n)
	return nil
}

// progressWriter gives each write writeTimeout of its own, so that a
// long copy goes on while its client reads and stops when it does not.
type progressWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (p progressWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return p.w.Write(b)
}
