package admin

import "time"

// States lists the message states in life order, as the spool names them.
// Status.Counts has one entry for each; clients print them in this order.
var States = []string{"waiting", "held", "queued", "sending", "deferred", "delivered", "failed", "dropped", "maybe_delivered"}

// Status is GET /v1/status.
type Status struct {
	Counts   map[string]int `json:"counts"`   // every state in States, zeros included
	Hold     string         `json:"hold"`     // the global hold window, Go duration text
	Upstream string         `json:"upstream"` // without secrets
	// UpstreamFallback is --upstream-fallback without secrets; "" when
	// there is none.
	UpstreamFallback string `json:"upstream_fallback"`
	// Routes lists the credentials with an upstream of their own, by
	// name; never null.
	Routes      []Route   `json:"routes"`
	Pauses      []Pause   `json:"pauses"`      // never null; empty when delivery runs
	Batches     []Batch   `json:"batches"`     // paused or cancelled batches; never null
	Credentials int       `json:"credentials"` // how many exist
	Version     string    `json:"version"`
	Started     time.Time `json:"started"`
	// Unreadable names the pause, batch and freeze records relayd cannot
	// decode ("pause shop", "batch promo", "freeze shop"); never null.
	// Each still stops the mail it may cover until an operator resumes,
	// sets the batch's status or enables the credential again.
	Unreadable []string `json:"unreadable_records"`
	// Braked lists the credentials the runaway brake holds; never null.
	Braked []Brake `json:"braked"`
	// Brake is relayd's global brake thresholds (--brake-duplicates,
	// --brake-rate; 0: that trigger is off).
	BrakeDuplicates int `json:"brake_duplicates"`
	BrakeRate       int `json:"brake_rate"`
	// Now is when relayd answered, by its clock: how long ago a node was
	// last seen is reckoned from it, not from the client's clock.
	Now time.Time `json:"now"`
	// Nodes lists the relayd nodes sharing the spool, the one answering
	// included; a relayd on its own spool file is the only one. Never
	// null.
	Nodes []Node `json:"nodes"`
}

// Node is one relayd sharing the spool (the spool's own Node, whose
// package admin does not import).
type Node struct {
	Name string `json:"name"`
	// Boot is a random ID of the node's current run: a restart under the
	// same name is another boot.
	Boot     string    `json:"boot,omitempty"`
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"last_seen"`
	// Lease is how long the node may go unseen before the others take
	// over its deliveries (Go duration text); "" on a spool of one node.
	Lease   string `json:"lease,omitempty"`
	Version string `json:"version,omitempty"`
	// Alive: last seen within its lease.
	Alive bool `json:"alive"`
	// Self: the node that answered.
	Self bool `json:"self,omitempty"`
}

// Route is a credential's own upstreams, without secrets; "" where the
// global one applies.
type Route struct {
	Credential       string `json:"credential"`
	Upstream         string `json:"upstream"`
	UpstreamFallback string `json:"upstream_fallback"`
}

// Pause is a stop on delivery, global or for one credential.
type Pause struct {
	Credential string     `json:"credential"` // "" for a global pause
	Reason     string     `json:"reason"`
	Actor      string     `json:"actor"` // who paused: "uid:1000", "token:ops"
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until"` // nil: until resumed
}

// Credential is the public view of a credential: it never carries a
// password or a hash.
type Credential struct {
	Name            string     `json:"name"`
	Description     string     `json:"description"`
	Created         time.Time  `json:"created"`
	Disabled        bool       `json:"disabled"`
	Hold            *string    `json:"hold"` // Go duration text; nil: the global hold window applies
	PasswordChanged time.Time  `json:"password_changed"`
	GraceUntil      *time.Time `json:"grace_until"` // nil unless an old password still works until then
	// AllowedSenders are the addresses (or @domains) MAIL FROM and the
	// From: header must match; empty, never null: any sender.
	AllowedSenders []string `json:"allowed_senders"`
	MaxMessageSize int64    `json:"max_message_size"` // bytes; 0: relayd's --max-message-size alone
	RateLimit      int      `json:"rate_limit"`       // messages per minute; 0: no limit
	// Upstream and UpstreamFallback are the credential's own upstream
	// URLs, the password hidden; "": relayd's --upstream and
	// --upstream-fallback.
	Upstream         string `json:"upstream"`
	UpstreamFallback string `json:"upstream_fallback"`
	// Brake thresholds of its own; nil: relayd's --brake-duplicates or
	// --brake-rate applies. 0: that trigger is off.
	BrakeDuplicates *int `json:"brake_duplicates"`
	BrakeRate       *int `json:"brake_rate"`
}

// UpstreamDefault, as an upstream URL in UpdateCredentialRequest, takes
// a credential's own upstream away: relayd's global one applies again.
const UpstreamDefault = "default"

// HoldDefault, as a hold, means "relayd's global hold window": in
// UpdateCredentialRequest it takes a credential's own window away.
const HoldDefault = "default"

// BrakeDefault, as a brake threshold in UpdateCredentialRequest, returns
// the credential to relayd's global threshold.
const BrakeDefault = "default"

// CredentialCreated answers POST /v1/credentials. Password is generated by
// relayd and shown here once: relayd keeps only its hash.
type CredentialCreated struct {
	Credential
	Password string `json:"password"`
	// APIKey is the password in the form the HTTP Mail Send API takes
	// (a bearer token that names the credential), shown as rarely.
	APIKey string `json:"api_key"`
}

// AddCredentialRequest is the body of POST /v1/credentials. Zero values
// are no restriction.
type AddCredentialRequest struct {
	Name           string   `json:"name"`
	Description    string   `json:"description,omitempty"`
	Hold           *string  `json:"hold,omitempty"` // Go duration text; nil or HoldDefault: the global hold window
	AllowedSenders []string `json:"allowed_senders,omitempty"`
	MaxMessageSize int64    `json:"max_message_size,omitempty"`
	RateLimit      int      `json:"rate_limit,omitempty"`
	// Upstream and UpstreamFallback are URLs as relayd's --upstream
	// takes them; "": the global ones.
	Upstream         string `json:"upstream,omitempty"`
	UpstreamFallback string `json:"upstream_fallback,omitempty"`
}

// UpdateCredentialRequest is the body of PATCH /v1/credentials/{name}:
// the settings to change, leaving out (or null) the ones to keep. It must
// change something.
type UpdateCredentialRequest struct {
	Description *string `json:"description,omitempty"`
	Hold        *string `json:"hold,omitempty"` // Go duration text, or HoldDefault
	// AllowedSenders replaces the whole list; [] allows every sender.
	AllowedSenders *[]string `json:"allowed_senders,omitempty"`
	MaxMessageSize *int64    `json:"max_message_size,omitempty"` // 0: relayd's limit alone
	RateLimit      *int      `json:"rate_limit,omitempty"`       // 0: no limit
	// Upstream and UpstreamFallback are URLs, or UpstreamDefault.
	Upstream         *string `json:"upstream,omitempty"`
	UpstreamFallback *string `json:"upstream_fallback,omitempty"`
	// Brake thresholds: a number (0: off), or BrakeDefault for relayd's.
	BrakeDuplicates *string `json:"brake_duplicates,omitempty"`
	BrakeRate       *string `json:"brake_rate,omitempty"`
	Reason          string  `json:"reason,omitempty"` // for the audit log
}

// CredentialDetails is GET /v1/credentials/{name}: the credential, how
// many of its messages are in each state, and its pause if any.
type CredentialDetails struct {
	Credential
	Messages map[string]int `json:"messages"` // every state in States, zeros included
	Paused   *Pause         `json:"paused"`   // nil unless delivery is paused for this credential
}

// CredentialChangeRequest is the optional body of the credential
// changes that take nothing else: disable, rm.
type CredentialChangeRequest struct {
	Reason string `json:"reason,omitempty"` // for the messages' history and the audit log
}

// CredentialDisabled answers POST /v1/credentials/{name}/disable. It
// comes once nothing the credential sent can still reach the upstream:
// logins are refused, its open sessions closed, and every pending
// message of it held, those being sent included, unless the upstream had
// already taken them. The counts add up: Held + AlreadyHeld is what the
// credential has held; AlreadyDelivered + DeliveredDuring is what the
// upstream has taken from it (as far as records are kept).
type CredentialDisabled struct {
	Credential       Credential `json:"credential"`
	Held             int        `json:"held"`              // pending messages the disable held
	AlreadyHeld      int        `json:"already_held"`      // held by an operator before
	DeliveredDuring  int        `json:"delivered_during"`  // being sent when the disable began; the upstream took them
	InFlight         int        `json:"in_flight"`         // still being sent when it answered, normally 0: held unless delivered
	FailedDuring     int        `json:"failed_during"`     // being sent, and failed for good meanwhile
	AlreadyDelivered int        `json:"already_delivered"` // delivered before the disable, still on record
}

// EnableCredentialRequest is the optional body of POST
// /v1/credentials/{name}/enable.
type EnableCredentialRequest struct {
	// Release puts the messages the credential's disable held back on
	// their schedule; without it they stay held. A message an operator
	// held stays held either way.
	Release bool   `json:"release,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// CredentialEnabled answers POST /v1/credentials/{name}/enable.
type CredentialEnabled struct {
	Credential Credential `json:"credential"`
	Released   int        `json:"released"` // held messages put back on their schedule (with Release)
	Held       int        `json:"held"`     // its messages still held
}

// CredentialRemoved answers DELETE /v1/credentials/{name}. The
// credential's messages stay in the spool: the pending ones are
// delivered as scheduled, the held ones stay held.
type CredentialRemoved struct {
	Name    string `json:"name"`
	Pending int    `json:"pending"` // waiting, queued, sending or deferred: they will be delivered
	Held    int    `json:"held"`
}

// RotateRequest is the optional body of POST /v1/credentials/{name}/rotate.
type RotateRequest struct {
	// Grace keeps the old password working this long (Go duration
	// text); "" or "0s": the old password fails at once.
	Grace  string `json:"grace,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// PasswordRotated answers a rotation: the credential, with GraceUntil set
// if the old password still works, and the new password, shown here once.
type PasswordRotated struct {
	Credential
	Password string `json:"password"`
	APIKey   string `json:"api_key"` // the new password as an API key
}

// Error is the body of every non-2xx response.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong: Code for programs, Message for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes. Programs switch on these, never on messages.
const (
	CodeInvalid          = "invalid"            // 400: malformed request or bad value
	CodeUnauthorized     = "unauthorized"       // 401: TCP request without a valid token
	CodeForbidden        = "forbidden"          // 403: the token's role may not do this
	CodeNotFound         = "not_found"          // 404
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeExists           = "exists"             // 409
	CodeNotBraked        = "not_braked"         // 409: brake release of a credential the brake does not hold
	CodeGone             = "gone"               // 410: a finished message's body is no longer kept
	CodeTooLarge         = "too_large"          // 413: request body over the limit
	CodeUnavailable      = "unavailable"        // 503: relayd is shutting down
	CodeInternal         = "internal"           // 500: details are in relayd's log
)

// Brake is a credential the runaway brake holds: GET /v1/brakes lists
// them. Count messages within Window went over Threshold; Recipient and
// Subject are the tripping message's.
type Brake struct {
	Credential string    `json:"credential"`
	Trigger    string    `json:"trigger"` // loop or rate ("unknown" for an unreadable record)
	Since      time.Time `json:"since"`
	Count      int       `json:"count"`
	Threshold  int       `json:"threshold"`
	Window     string    `json:"window"` // Go duration text
	Recipient  string    `json:"recipient"`
	Subject    string    `json:"subject"`
	HeldAtTrip int       `json:"held_at_trip"` // messages the trip held, the tripping one included
	Held       int       `json:"held"`         // messages held by the brake now
}

// BrakeReleaseRequest is the optional body of POST
// /v1/brakes/{name}/release.
type BrakeReleaseRequest struct {
	Reason string `json:"reason,omitempty"`
}

// BrakeReleased answers POST /v1/brakes/{name}/release: the brake that
// was on, and how many held messages went back on their schedule.
type BrakeReleased struct {
	Brake    Brake `json:"brake"`
	Released int   `json:"released"`
	// StillHeld are the credential's messages held by someone else (an
	// operator, a pause, a disable), which the release left alone.
	StillHeld int `json:"still_held"`
}
