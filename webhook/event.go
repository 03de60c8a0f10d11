package webhook

import (
	"encoding/json"
	"time"
)

// Event types, as the product contract names them.
const (
	MessageAccepted    = "message.accepted"
	MessageHeld        = "message.held"
	MessageReleased    = "message.released"
	MessageFlushed     = "message.flushed"
	MessageDeferred    = "message.deferred"
	MessageDelivered   = "message.delivered"
	MessageFailed      = "message.failed"
	MessageDropped     = "message.dropped"
	CredentialAdded    = "credential.added"
	CredentialRotated  = "credential.rotated"
	CredentialDisabled = "credential.disabled"
	CredentialEnabled  = "credential.enabled"
	CredentialRemoved  = "credential.removed"
	PauseStarted       = "pause.started"
	PauseEnded         = "pause.ended"
	BatchPaused        = "batch.paused"
	BatchResumed       = "batch.resumed"
	BatchCancelled     = "batch.cancelled"
	BrakeTripped       = "brake.tripped"
	BrakeReleased      = "brake.released"
	WebhookTest        = "webhook.test"
	DKIMAdded          = "dkim.added"
	DKIMRemoved        = "dkim.removed"
	TokenAdded         = "token.added"
	TokenRemoved       = "token.removed"
)

// Types lists every event type, the ones an Endpoint may subscribe to.
var Types = []string{
	MessageAccepted, MessageHeld, MessageReleased, MessageFlushed,
	MessageDeferred, MessageDelivered, MessageFailed, MessageDropped,
	CredentialAdded, CredentialRotated, CredentialDisabled, CredentialEnabled, CredentialRemoved,
	PauseStarted, PauseEnded, BatchPaused, BatchResumed, BatchCancelled,
	BrakeTripped, BrakeReleased, WebhookTest, DKIMAdded, DKIMRemoved,
	TokenAdded, TokenRemoved,
}

// Event is one entry of the spool's outbox. Its JSON form is the wire form
// of the standard format: {"id", "type", "timestamp", "data"}.
type Event struct {
	// Seq is the event's position in the outbox: increasing, never reused.
	Seq  uint64          `json:"-"`
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"timestamp"`
	Data json.RawMessage `json:"data"`
	// Endpoint, when set, sends the event to that endpoint only, whatever
	// its filter: how `webhook test` reaches the endpoint it names.
	Endpoint string `json:"-"`
}

// MarshalJSON writes the timestamp in UTC and an empty object for no data,
// so that receivers need not handle "null".
func (e Event) MarshalJSON() ([]byte, error) {
	type wire Event
	w := wire(e)
	w.Time = w.Time.UTC()
	if len(w.Data) == 0 {
		w.Data = json.RawMessage("{}")
	}
	return json.Marshal(w)
}

// MessageData is the data of every message.* event. The first fields are
// on every message event; the rest only on the types named beside them,
// and are left out elsewhere.
type MessageData struct {
	MessageID       string            `json:"message_id"` // the relay ID
	Credential      string            `json:"credential"`
	From            string            `json:"from"`
	Recipients      []string          `json:"recipients"`
	Subject         string            `json:"subject"`
	MessageIDHeader string            `json:"message_id_header"`
	BatchID         string            `json:"batch_id"`
	Categories      []string          `json:"categories"`
	UniqueArgs      map[string]string `json:"unique_args"`

	// Attempt counts delivery attempts, this one included (deferred).
	Attempt int `json:"attempt,omitempty"`
	// Response is the upstream's reply (deferred, delivered), or the reply
	// that ended the message (failed).
	Response    string    `json:"response,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // deferred
	// RecipientResponses is the upstream's reply to each recipient
	// (failed); a recipient left out got Response.
	RecipientResponses []RecipientResponse `json:"recipient_responses,omitempty"`
	// Actor is who acted: an admin token's name, "console:<name>", or
	// "relay" for the relay's own decisions (dropped, held, released,
	// flushed).
	Actor string `json:"actor,omitempty"`
	// Reason says why: for held, released and flushed, who decided
	// ("operator", "pause", "freeze", "brake", "batch"); for dropped, the
	// operator's words or the batch cancel.
	Reason string `json:"reason,omitempty"`
	// Note is the words given with a hold, release or flush: an
	// operator's --reason, or a pause's description.
	Note string `json:"note,omitempty"`
	// MaybeDelivered marks a drop of a message whose attempt was cut
	// short after its data went out: the upstream may have it.
	MaybeDelivered bool `json:"maybe_delivered,omitempty"`
	// DSNMessageID, on message.failed, is the relay ID of the delivery
	// status notification (bounce) sent to the sender, if one was.
	DSNMessageID string `json:"dsn_message_id,omitempty"`
}

// RecipientResponse is the upstream's reply to one recipient.
type RecipientResponse struct {
	Recipient string `json:"recipient"`
	Response  string `json:"response"`
}

// MarshalJSON writes empty lists and objects instead of null, so that every
// message event has the same shape.
func (d MessageData) MarshalJSON() ([]byte, error) {
	type wire MessageData
	w := wire(d)
	if w.Recipients == nil {
		w.Recipients = []string{}
	}
	if w.Categories == nil {
		w.Categories = []string{}
	}
	if w.UniqueArgs == nil {
		w.UniqueArgs = map[string]string{}
	}
	return json.Marshal(w)
}

// responseFor returns the upstream's reply to one recipient.
func (d *MessageData) responseFor(rcpt string) string {
	for _, r := range d.RecipientResponses {
		if r.Recipient == rcpt {
			return r.Response
		}
	}
	return d.Response
}
