package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// handlerFunc is an admin handler: it writes a success itself and returns
// any failure for writeError to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access says which roles may call a route. The unix socket's caller is
// always an operator.
type access int

const (
	anyRole      access = iota // operator and support: reads, and hold, drop, purge
	operatorOnly               // the other changes
)

// routes lists the API. A new endpoint is one line here and one handler.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	methods := make(map[string][]string) // path -> methods, for 405's Allow
	handle := func(method, path string, a access, h handlerFunc) {
		mux.Handle(method+" "+path, s.wrap(a, h))
		methods[path] = append(methods[path], method)
	}

	handle(http.MethodGet, "/v1/status", anyRole, s.getStatus)
	handle(http.MethodGet, "/v1/credentials", anyRole, s.listCredentials)
	handle(http.MethodPost, "/v1/credentials", operatorOnly, s.addCredential)
	handle(http.MethodGet, "/v1/credentials/{name}", anyRole, s.getCredential)
	handle(http.MethodPatch, "/v1/credentials/{name}", operatorOnly, s.updateCredential)
	handle(http.MethodDelete, "/v1/credentials/{name}", operatorOnly, s.removeCredential)
	handle(http.MethodPost, "/v1/credentials/{name}/disable", operatorOnly, slow(s.disableCredential))
	handle(http.MethodPost, "/v1/credentials/{name}/enable", operatorOnly, slow(s.enableCredential))
	handle(http.MethodPost, "/v1/credentials/{name}/rotate", operatorOnly, s.rotatePassword)
	handle(http.MethodGet, "/v1/messages", anyRole, s.listMessages)
	handle(http.MethodGet, "/v1/messages/{id}", anyRole, s.getMessage)
	handle(http.MethodGet, "/v1/messages/{id}/raw", anyRole, slow(s.getRaw))
	// Changes are verbs. Support staff may stop mail (hold, drop, purge);
	// letting it go (flush, release, resume) is the operator's call.
	handle(http.MethodPost, "/v1/hold", anyRole, slow(s.action(hold)))
	handle(http.MethodPost, "/v1/drop", anyRole, slow(s.action(drop)))
	handle(http.MethodPost, "/v1/purge", anyRole, slow(s.action(purge)))
	// Every bulk change may take long on a large spool: none is cut off
	// by the ordinary write timeout in the middle of an incident.
	handle(http.MethodPost, "/v1/flush", operatorOnly, slow(s.action(flush)))
	handle(http.MethodPost, "/v1/release", operatorOnly, slow(s.action(release)))
	handle(http.MethodPost, "/v1/pause", operatorOnly, slow(s.pause))
	handle(http.MethodPost, "/v1/resume", operatorOnly, slow(s.resume))
	handle(http.MethodGet, "/v1/audit", anyRole, s.listAudit)
	// The runaway brake: anyone may look; letting its mail go is the
	// operator's call.
	handle(http.MethodGet, "/v1/brakes", anyRole, s.listBrakes)
	handle(http.MethodPost, "/v1/brakes/{name}/release", operatorOnly, slow(s.releaseBrake))
	// The spool's copy holds every secret relayd keeps.
	handle(http.MethodGet, "/v1/backup", operatorOnly, s.getBackup)
	// Batches: stopping one (pause, cancel) is for support too; letting
	// it go again is the operator's call, as for messages.
	handle(http.MethodGet, "/v1/batches", anyRole, s.listBatches)
	handle(http.MethodPost, "/v1/batches", anyRole, s.createBatch)
	handle(http.MethodGet, "/v1/batches/{id}", anyRole, s.getBatch)
	handle(http.MethodPost, "/v1/batches/{id}/pause", anyRole, slow(s.batchChange(spool.BatchPaused)))
	handle(http.MethodPost, "/v1/batches/{id}/cancel", anyRole, slow(s.batchChange(spool.BatchCancelled)))
	handle(http.MethodPost, "/v1/batches/{id}/resume", operatorOnly, slow(s.batchChange(spool.BatchActive)))
	// Webhooks: support staff may look; subscribing is the operator's.
	handle(http.MethodGet, "/v1/webhooks", anyRole, s.listWebhooks)
	handle(http.MethodPost, "/v1/webhooks", operatorOnly, s.addWebhook)
	handle(http.MethodGet, "/v1/webhooks/{name}", anyRole, s.getWebhook)
	handle(http.MethodDelete, "/v1/webhooks/{name}", operatorOnly, s.removeWebhook)
	handle(http.MethodPost, "/v1/webhooks/{name}/test", operatorOnly, s.testWebhook)
	// DKIM keys: support staff may read the public records; making and
	// removing keys is the operator's.
	handle(http.MethodGet, "/v1/dkim", anyRole, s.listDKIM)
	handle(http.MethodPost, "/v1/dkim", operatorOnly, s.addDKIM)
	handle(http.MethodDelete, "/v1/dkim/{domain}", operatorOnly, s.removeDKIM)
	handle(http.MethodGet, "/v1/events", anyRole, s.events)
	// Tokens and console sign-in links let people in: the operator's.
	handle(http.MethodGet, "/v1/tokens", operatorOnly, s.listTokens)
	handle(http.MethodPost, "/v1/tokens", operatorOnly, s.addToken)
	handle(http.MethodDelete, "/v1/tokens/{name}", operatorOnly, s.removeToken)
	handle(http.MethodPost, "/v1/console-links", operatorOnly, s.addConsoleLink)
	// SendGrid's scheduled-send endpoints (see sendgrid.go).
	handle(http.MethodPost, "/v3/mail/batch", anyRole, s.sgCreateBatch)
	handle(http.MethodGet, "/v3/mail/batch/{batch_id}", anyRole, s.sgValidateBatch)
	handle(http.MethodPost, "/v3/user/scheduled_sends", anyRole, slow(s.sgCreateScheduledSend))
	handle(http.MethodGet, "/v3/user/scheduled_sends", anyRole, s.sgListScheduledSends)
	handle(http.MethodGet, "/v3/user/scheduled_sends/{batch_id}", anyRole, s.sgGetScheduledSend)
	handle(http.MethodPatch, "/v3/user/scheduled_sends/{batch_id}", anyRole, slow(s.sgUpdateScheduledSend))
	handle(http.MethodDelete, "/v3/user/scheduled_sends/{batch_id}", operatorOnly, slow(s.sgDeleteScheduledSend))

	// A pattern without a method is less specific than one with, so these
	// catch only the methods a path does not serve.
	for path, ms := range methods {
		slices.Sort(ms)
		mux.Handle(path, s.wrap(anyRole, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", strings.Join(ms, ", "))
			return &apiError{status: http.StatusMethodNotAllowed, code: admin.CodeMethodNotAllowed,
				msg: fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(ms, ", "))}
		}))
	}
	mux.Handle("/", s.wrap(anyRole, func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, code: admin.CodeNotFound,
			msg: fmt.Sprintf("no such endpoint: %s (is relayctl newer than relayd?)", r.URL.Path)}
	}))
	return mux
}

// wrap checks the caller's role against a, runs h, and answers its error.
func (s *Server) wrap(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := callerOf(r); a == operatorOnly && c.role != RoleOperator {
			s.writeError(w, r, &apiError{status: http.StatusForbidden, code: admin.CodeForbidden,
				msg: fmt.Sprintf("%s %s needs the %s role; this token has %s", r.Method, r.URL.Path, RoleOperator, c.role)})
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// slow lets h answer after the server's WriteTimeout, up to
// slowWriteTimeout: a drop, a hold or a credential's disable waits for
// the deliveries it interrupts, and a raw body may be large. The deadline is the
// connection's, so it is the wall clock's, never relayd's test clock.
func slow(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		// An error means w cannot set deadlines (say, httptest's
		// recorder): there is then no deadline to extend either.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(slowWriteTimeout))
		return h(w, r)
	}
}
