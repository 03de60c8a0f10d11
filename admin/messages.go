package admin

import "time"

// Message is one message as GET /v1/messages lists it: its record, never
// its body.
type Message struct {
	ID         string      `json:"id"` // 13 characters, unique for life
	State      string      `json:"state"`
	Credential string      `json:"credential"` // "" when relayed for a trusted network
	From       string      `json:"from"`
	To         []Recipient `json:"to"`
	Size       int64       `json:"size"` // bytes, as received
	Subject    string      `json:"subject"`
	MessageID  string      `json:"message_id,omitempty"` // the Message-ID header
	Received   time.Time   `json:"received"`
	// Release is when the message may be sent; for a deferred one, its
	// next retry. ReleaseIn is the time left by relayd's clock, for
	// waiting and deferred messages only, as Go duration text.
	Release   time.Time `json:"release"`
	ReleaseIn string    `json:"release_in,omitempty"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	// Upstream answered the last attempt (the one that took the
	// message, once delivered), without secrets.
	Upstream  string     `json:"upstream,omitempty"`
	Finished  *time.Time `json:"finished,omitempty"`   // for delivered, failed, dropped and maybe_delivered
	HeldBy    string     `json:"held_by,omitempty"`    // "operator", "pause" or "freeze", for held messages
	Reason    string     `json:"reason,omitempty"`     // why it was last held or dropped
	Pending   string     `json:"pending,omitempty"`    // "drop" or "hold": asked while it was being sent
	PendingBy string     `json:"pending_by,omitempty"` // who asked for Pending
	// Scheduling metadata from the X-SMTPAPI or X-Relay-* headers.
	Batch      string            `json:"batch,omitempty"`
	Categories []string          `json:"categories,omitempty"`
	UniqueArgs map[string]string `json:"unique_args,omitempty"`
	SendAt     *time.Time        `json:"send_at,omitempty"` // the scheduled time asked for
	// DSN is the ID of the delivery status notification (bounce) sent to
	// the sender of this failed message; BounceOf, on a DSN, is the ID of
	// the failed message it reports.
	DSN      string `json:"dsn,omitempty"`
	BounceOf string `json:"bounce_of,omitempty"`
}

// Recipient is one envelope recipient and where its delivery stands.
type Recipient struct {
	Addr  string `json:"addr"`
	State string `json:"state"`           // "pending", "delivered" or "failed"
	Reply string `json:"reply,omitempty"` // the upstream's last answer for it
}

// MessageDetails is GET /v1/messages/{id}: the record, the main headers
// (kept after the body goes) and the whole history.
type MessageDetails struct {
	Message
	Headers []Header `json:"headers"`
	History []Event  `json:"history"`
}

// Header is one of the main headers of a message.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Event is one step of a message's history.
type Event struct {
	Time   time.Time `json:"time"`
	State  string    `json:"state"` // the state entered
	Actor  string    `json:"actor"` // "smtp", "dispatcher", "system", "uid:1000", "token:ops", ...
	Reason string    `json:"reason,omitempty"`
	// Upstream, on a delivery attempt's step, answered it.
	Upstream string `json:"upstream,omitempty"`
}

// ListRequest asks for one page of GET /v1/messages.
type ListRequest struct {
	Selector        // IDs are ignored: a list selects by criteria
	Cursor   string // NextCursor of the previous page; "" for the newest
	Limit    int    // 0 = 50; at most MaxLimit
}

// MessageList is one page of messages, newest first. NextCursor is ""
// on the last page.
type MessageList struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor"`
}

// Page sizes of GET /v1/messages and GET /v1/audit.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ActionRequest is the body of POST /v1/{flush,drop,hold,release,purge}.
type ActionRequest struct {
	Selector Selector `json:"selector"`
	DryRun   bool     `json:"dry_run,omitempty"` // report what would change; change nothing
	Reason   string   `json:"reason,omitempty"`  // for the history and the audit log
	// CountsOnly leaves out of the answer the IDs of every outcome but
	// not_found: a client that prints counts spares itself and relayd
	// 100,000 IDs on a bulk change.
	CountsOnly bool `json:"counts_only,omitempty"`
}

// ActionResult answers a change: how many messages had each outcome, and
// which. Counts has every outcome the action can have, zeros included;
// IDs has only the outcomes that happened (of those, only not_found when
// asked with CountsOnly).
type ActionResult struct {
	Action string              `json:"action"`
	DryRun bool                `json:"dry_run"`
	Counts map[string]int      `json:"counts"`
	IDs    map[string][]string `json:"ids"`
}

// Outcomes of a change for one message, in the order clients print them.
const (
	OutcomeChanged   = "changed"   // flushed, dropped, held or released, as asked
	OutcomeInFlight  = "in_flight" // being sent: a hold waits for the attempt's end
	OutcomeDelivered = "delivered" // already delivered
	// OutcomeMaybeDelivered: dropped, but an attempt cut short by a crash
	// may have delivered it before.
	OutcomeMaybeDelivered = "maybe_delivered"
	OutcomeFinished       = "finished"  // already failed, dropped or maybe_delivered
	OutcomeUnchanged      = "unchanged" // already as asked, or nothing to do
	OutcomePaused         = "paused"    // held by a pause: resume it instead
	OutcomeDisabled       = "disabled"  // its credential is disabled: enable it instead
	// OutcomeBraked: a flush or release by selector met a message whose
	// credential the runaway brake holds: brake release it, or name the
	// message by ID.
	OutcomeBraked   = "braked"
	OutcomeNotFound = "not_found" // no message has that ID
)

// Outcomes lists every outcome in print order.
var Outcomes = []string{OutcomeChanged, OutcomeMaybeDelivered, OutcomeInFlight, OutcomeDelivered, OutcomeFinished,
	OutcomeUnchanged, OutcomePaused, OutcomeDisabled, OutcomeBraked, OutcomeNotFound}

// PauseRequest is the body of POST /v1/pause.
type PauseRequest struct {
	Credential string `json:"credential,omitempty"` // "" pauses every credential
	For        string `json:"for,omitempty"`        // Go duration; "" until resumed
	Reason     string `json:"reason,omitempty"`
}

// PauseResult answers a pause: the pause as recorded, and how many
// pending messages it holds.
type PauseResult struct {
	Pause Pause `json:"pause"`
	Held  int   `json:"held"`
}

// ResumeRequest is the body of POST /v1/resume.
type ResumeRequest struct {
	Credential string `json:"credential,omitempty"` // "" ends the global pause
	Reason     string `json:"reason,omitempty"`
}

// ResumeResult answers a resume: how many messages went back on their
// schedule. Messages another pause still covers stay held.
type ResumeResult struct {
	Credential string `json:"credential"`
	Released   int    `json:"released"`
}

// AuditEntry is one administrative change. Counts uses the Outcome
// names; a pause counts what it held, a resume and an enable with release
// what they released, all as "changed"; a credential disable uses the
// JSON names of CredentialDisabled's counts. Zeros are left out.
type AuditEntry struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	// Action is flush, drop, hold, release, purge, pause, resume,
	// "credential add", "credential set", "credential disable",
	// "credential enable", "credential rm" or "password-rotate"; one
	// that failed part way has " (incomplete)" appended.
	Action   string         `json:"action"`
	Selector string         `json:"selector"`
	Reason   string         `json:"reason,omitempty"`
	Counts   map[string]int `json:"counts,omitempty"`
	// Detail says what a change set that counts cannot: a credential's
	// new settings ("hold=0s rate-limit=10"), a rotation's grace. Never
	// a password.
	Detail string `json:"detail,omitempty"`
}

// AuditList is one page of GET /v1/audit, newest first. NextBefore, when
// not 0, is the "before" of the next page.
type AuditList struct {
	Entries    []AuditEntry `json:"entries"`
	NextBefore uint64       `json:"next_before,omitempty"`
}
