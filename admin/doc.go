// Package admin is the contract between relayd and its admin clients: the
// wire types of the admin HTTP API and a typed Go client for it. relayctl
// reaches the daemon only through this package.
//
// It imports only the standard library, so that relayctl never links bbolt
// or the SMTP server (a test in cmd/relayctl checks). The handlers that
// serve this API live in admin/server, which may import the rest.
//
// # Wire
//
// Paths are versioned under /v1/. Bodies are JSON with snake_case fields;
// durations travel as Go duration text ("30s", "1m30s") and times as
// RFC 3339. Every failure answers a non-2xx status with an Error body, whose
// Code is one of the Code* constants. The server rejects request fields it
// does not know; the client ignores response fields it does not know, so an
// older relayctl keeps working against a newer relayd.
//
// # Access
//
// On a unix socket (mode 0600) the file mode is the access control. On TCP
// every request carries "Authorization: Bearer <secret>"; tokens have the
// role "operator" (everything) or "support" (every read, and hold, drop
// and purge: what support staff need to stop a message; flush, release,
// pause, resume and credential changes are the operator's).
//
// # Endpoints
//
//	GET    /v1/status                       Status
//	GET    /v1/credentials                  []Credential
//	POST   /v1/credentials                  AddCredentialRequest -> CredentialCreated
//	GET    /v1/credentials/{name}           CredentialDetails
//	PATCH  /v1/credentials/{name}           UpdateCredentialRequest -> Credential
//	DELETE /v1/credentials/{name}           [CredentialChangeRequest] -> CredentialRemoved
//	POST   /v1/credentials/{name}/disable   [CredentialChangeRequest] -> CredentialDisabled
//	POST   /v1/credentials/{name}/enable    [EnableCredentialRequest] -> CredentialEnabled
//	POST   /v1/credentials/{name}/rotate    [RotateRequest] -> PasswordRotated
//	GET    /v1/messages?QUERY               MessageList; QUERY is Selector.Query plus limit and cursor
//	GET    /v1/messages/{id}                MessageDetails
//	GET    /v1/messages/{id}/raw            the message as received (message/rfc822); 410 once finished
//	POST   /v1/{flush,drop,hold,release,purge}  ActionRequest -> ActionResult
//	POST   /v1/pause                        PauseRequest -> PauseResult
//	POST   /v1/resume                       ResumeRequest -> ResumeResult
//	GET    /v1/audit?limit=N&before=S       AuditList
//	GET    /v1/batches                      BatchList
//	POST   /v1/batches                      [CreateBatchRequest] -> Batch
//	GET    /v1/batches/{id}                 BatchDetails
//	POST   /v1/batches/{id}/pause           [BatchChangeRequest] -> BatchChanged
//	POST   /v1/batches/{id}/resume          [BatchChangeRequest] -> BatchChanged (operator)
//	POST   /v1/batches/{id}/cancel          [BatchChangeRequest] -> BatchChanged
//	GET    /v1/webhooks                     []Webhook
//	POST   /v1/webhooks                     AddWebhookRequest -> WebhookCreated (operator)
//	GET    /v1/webhooks/{name}              Webhook
//	DELETE /v1/webhooks/{name}              -> WebhookRemoved (operator)
//	POST   /v1/webhooks/{name}/test         -> WebhookTested (operator)
//	GET    /v1/events?QUERY                 JSON lines of OutboxEvent; QUERY is EventsRequest's
//
// SendGrid's scheduled-send endpoints are served beside them in SendGrid's
// own shapes and error bodies ({"errors":[{"field","message"}]}), so that a
// SendGrid client works with relayd's address and an admin token as its
// API key; this package has no client for them:
//
//	POST   /v3/mail/batch                   -> 201 {"batch_id"}
//	GET    /v3/mail/batch/{batch_id}        -> 200 {"batch_id"}
//	POST   /v3/user/scheduled_sends         {"batch_id","status"} -> 201
//	GET    /v3/user/scheduled_sends         -> 200 [{"batch_id","status"}]
//	GET    /v3/user/scheduled_sends/{id}    -> 200 [{"batch_id","status"}] or []
//	PATCH  /v3/user/scheduled_sends/{id}    {"status"} -> 204
//	DELETE /v3/user/scheduled_sends/{id}    -> 204 (operator)
//
// A body in [brackets] may be left out. Credential changes answer 404
// (CodeNotFound) for a credential that does not exist.
//
// Changes to messages are verbs under /v1/; changes to a credential are
// methods on it, or verbs under it. Reads are nouns. Every change but a
// dry run is written to the audit log with its actor: "uid:N" for the
// unix socket's peer, "token:NAME" on TCP.
package admin
