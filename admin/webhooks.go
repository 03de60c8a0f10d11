package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EventTypes lists every event type, in the contract's order; webhooks
// subscribe to them and relayctl events filters on them. It is
// webhook.Types, which this package may not import (a test checks that
// the two agree).
var EventTypes = []string{
	"message.accepted", "message.held", "message.released", "message.flushed",
	"message.deferred", "message.delivered", "message.failed", "message.dropped",
	"credential.added", "credential.rotated", "credential.disabled", "credential.enabled", "credential.removed",
	"pause.started", "pause.ended", "batch.paused", "batch.resumed", "batch.cancelled",
	"brake.tripped", "brake.released", "webhook.test", "dkim.added", "dkim.removed",
	"token.added", "token.removed",
}

// Webhook formats.
const (
	FormatStandard = "standard" // Standard Webhooks; the default
	FormatSendGrid = "sendgrid" // SendGrid's Event Webhook
)

// CheckEventFilter accepts what --events and --type take: a type of
// EventTypes, "*", or "<group>.*" for a group with at least one type.
func CheckEventFilter(f string) error {
	if f == "*" || slices.Contains(EventTypes, f) {
		return nil
	}
	group, ok := strings.CutSuffix(f, ".*")
	if ok && group != "" && slices.ContainsFunc(EventTypes, func(t string) bool { return strings.HasPrefix(t, group+".") }) {
		return nil
	}
	return fmt.Errorf("unknown event type %q (types: %s; or a prefix such as message.*)", f, strings.Join(EventTypes, ", "))
}

// CheckWebhookURL accepts an http:// or https:// URL with a host. relayd
// checks more (that it does not point at relayd's own admin API). Its
// error does not quote the URL, which may hold a token.
func CheckWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("webhook url: want http:// or https:// and a host")
	}
	return nil
}

// Webhook is GET /v1/webhooks/{name}, and each item of GET /v1/webhooks.
// It never carries the signing secret or key.
type Webhook struct {
	Name           string    `json:"name"`
	URL            string    `json:"url"`
	Format         string    `json:"format"` // FormatStandard or FormatSendGrid
	Events         []string  `json:"events"` // types or prefixes; empty, never null: all
	Disabled       bool      `json:"disabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"` // why: a 410 from the receiver
	Created        time.Time `json:"created"`
	CreatedBy      string    `json:"created_by"`
	// Backlog counts the outbox's events after the webhook's cursor, of
	// every type: an upper bound on what it has yet to receive.
	Backlog uint64 `json:"backlog"`
	// The rest is what the running sender knows since relayd started;
	// null when it does not know (no attempt yet, or disabled).
	LastSuccess *time.Time `json:"last_success"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at"`
	Failures    int        `json:"failures"` // consecutive failed attempts at the current batch
	NextAttempt *time.Time `json:"next_attempt"`
}

// AddWebhookRequest is the body of POST /v1/webhooks.
type AddWebhookRequest struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"` // types or prefixes; none: all
	Format string   `json:"format,omitempty"` // FormatStandard when empty
}

// WebhookCreated answers POST /v1/webhooks with 201. The signing secret
// (standard format) or the public key (SendGrid format) is shown here
// once: no later answer carries either.
type WebhookCreated struct {
	Webhook
	Secret    string `json:"secret,omitempty"`     // "whsec_" + base64 of the HMAC key
	PublicKey string `json:"public_key,omitempty"` // base64 of the PKIX DER of the ECDSA P-256 key
}

// WebhookRemoved answers DELETE /v1/webhooks/{name}.
type WebhookRemoved struct {
	Name string `json:"name"`
}

// WebhookTested answers POST /v1/webhooks/{name}/test: the webhook.test
// event written to the outbox for that webhook alone.
type WebhookTested struct {
	Name  string      `json:"name"`
	Event OutboxEvent `json:"event"`
}

// OutboxEvent is one line of GET /v1/events: the contract's wire form of an
// event plus its outbox position.
type OutboxEvent struct {
	Seq       uint64          `json:"seq"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// EventData is the part of an event's data that tables and selectors
// read; message events carry all of it, others what concerns them.
type EventData struct {
	MessageID  string   `json:"message_id"`
	Credential string   `json:"credential"`
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	Subject    string   `json:"subject"`
	BatchID    string   `json:"batch_id"`
	Webhook    string   `json:"webhook"`  // webhook.test
	Domain     string   `json:"domain"`   // dkim.*
	Selector   string   `json:"selector"` // dkim.*
	Categories []string `json:"categories"`
	Response   string   `json:"response"`
	Actor      string   `json:"actor"`
	Reason     string   `json:"reason"`
	Note       string   `json:"note,omitempty"` // held, released, flushed: the words given with it
	// MaybeDelivered marks a message.dropped of a message the upstream may
	// have: its attempt was cut short after its data went out.
	MaybeDelivered bool `json:"maybe_delivered,omitempty"`
}

// EventsRequest is the query of GET /v1/events.
type EventsRequest struct {
	// After starts after this outbox position. Nil: with the last
	// EventsTail events of the outbox (counted before Types and Selector),
	// with Follow or without it, like tail -f.
	After  *uint64
	Types  []string // types or prefixes; none: all
	Follow bool     // keep the answer open and send each new event
	// Selector keeps events whose data matches: credential, from, to,
	// batch and category. IDs, states and ages are refused.
	Selector Selector
}

// EventsTail is how many of the newest events GET /v1/events returns
// without after and without follow.
const EventsTail = 100

// EventsContentType is the type of GET /v1/events: JSON lines.
const EventsContentType = "application/x-ndjson"
