package spool

import (
	"time"
)

// messageData is the data of a message.* event. Its JSON names are
// webhook.MessageData's, which a test in package relay checks.
type messageData struct {
	MessageID          string            `json:"message_id"`
	Credential         string            `json:"credential"`
	From               string            `json:"from"`
	Recipients         []string          `json:"recipients"`
	Subject            string            `json:"subject"`
	MessageIDHeader    string            `json:"message_id_header"`
	BatchID            string            `json:"batch_id"`
	Categories         []string          `json:"categories"`
	UniqueArgs         map[string]string `json:"unique_args"`
	Attempt            int               `json:"attempt,omitempty"`
	Response           string            `json:"response,omitempty"`
	NextAttempt        time.Time         `json:"next_attempt,omitzero"`
	RecipientResponses []rcptResponse    `json:"recipient_responses,omitempty"`
	Actor              string            `json:"actor,omitempty"`
	Reason             string            `json:"reason,omitempty"`
	// Note is the words given with a hold, release or flush (an
	// operator's --reason, a pause's description): reason says only who.
	Note string `json:"note,omitempty"`
	// MaybeDelivered marks a message.dropped of a message whose earlier
	// attempt a crash cut short (maybe_delivered): the upstream may have
	// it all the same.
	MaybeDelivered bool `json:"maybe_delivered,omitempty"`
	// DSNMessageID, on message.failed, is the relay ID of the delivery
	// status notification sent to the sender, if one was.
	DSNMessageID string `json:"dsn_message_id,omitempty"`
}

type rcptResponse struct {
	Recipient string `json:"recipient"`
	Response  string `json:"response"`
}

// adminData is the data of the administrative events; each type fills
// the fields that name what it changed.
type adminData struct {
	Credential string    `json:"credential,omitempty"`
	BatchID    string    `json:"batch_id,omitempty"`
	Webhook    string    `json:"webhook,omitempty"`
	Domain     string    `json:"domain,omitempty"`   // dkim.*
	Selector   string    `json:"selector,omitempty"` // dkim.*
	Token      string    `json:"token,omitempty"`    // token.*: its name
	Role       string    `json:"role,omitempty"`     // token.added
	Global     bool      `json:"global,omitempty"`   // pause.*: every credential
	Until      time.Time `json:"until,omitzero"`     // pause.started with an end
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
}

// The relay's own actors in histories; events say "relay" for all of
// them, as the contract does.
var relayActors = map[string]bool{"smtp": true, "http": true, "dispatcher": true, "system": true, "restart": true, "spool": true, "relayd": true}

func eventActor(actor string) string {
	if actor == "" || relayActors[actor] {
		return "relay"
	}
	return actor
}

// Causes: data.reason of message.held, .released and .flushed.
const (
	causeOperator = "operator"
	causePause    = "pause"
	causeFreeze   = "freeze"
	causeBatch    = "batch"
	causeBrake    = "brake"
)

// pauseCause names what a pause is, for data.reason.
func (p *Pause) cause() string {
	if p.Batch != "" {
		return causeBatch
	}
	return causePause
}

// holderCause is data.reason for a message held by holder.
func holderCause(holder string) string {
	if holder == "" {
		return causeOperator
	}
	return holder
}

// setMessage fills in the message's own fields: those every message
// event carries, which never change after the accept. The outbox stores
// only the change's fields and message_id, and reads these from the
// record: a bulk action of 100,000 messages writes a third as much.
func (d *messageData) setMessage(m *Message) {
	d.MessageID, d.Credential, d.From, d.Subject = m.ID.String(), m.Credential, m.From, m.Subject
	d.MessageIDHeader, d.BatchID, d.Categories, d.UniqueArgs = m.MessageID, m.Batch, m.Categories, m.UniqueArgs
	d.Recipients = make([]string, len(m.Rcpts))
	for i, r := range m.Rcpts {
		d.Recipients[i] = r.Addr
	}
}

// messageEventType is the event a message's new state reports when the
// change does not say (a delivery's outcome, or what settle made of it):
// "" for the states the dispatcher moves messages through on its own.
func messageEventType(st State) string {
	switch st {
	case Held:
		return EvMessageHeld
	case Deferred:
		return EvMessageDeferred
	case Delivered:
		return EvMessageDelivered
	case Failed:
		return EvMessageFailed
	case Dropped, Unsure:
		return EvMessageDropped
	}
	return ""
}

// emitMessage writes the event typ of m's change ev.
func (t *txn) emitMessage(typ string, m *Message, ev *Event) error {
	return t.emitRun(typ, ev.Time, t.changeFields(typ, m, ev), m.ID)
}

// fieldsKey is what an operator's change event's fields depend on: the
// same for every message of a bulk action, whose fields are made once.
type fieldsKey struct {
	typ, actor, cause, reason string
	unsure                    bool
}

// changeFields returns the change's fields of the event typ of m's
// change ev, as appendFields writes them.
func (t *txn) changeFields(typ string, m *Message, ev *Event) []byte {
	key := fieldsKey{typ, ev.Actor, ev.cause, ev.Reason, m.State == Unsure}
	operator := typ == EvMessageHeld || typ == EvMessageReleased || typ == EvMessageFlushed || typ == EvMessageDropped
	if operator && t.fields != nil && t.fieldsKey == key {
		return t.fields
	}
	var d messageData
	switch typ {
	case EvMessageHeld, EvMessageReleased, EvMessageFlushed:
		d.Actor, d.Reason, d.Note = eventActor(ev.Actor), ev.cause, ev.Reason
		if d.Reason == "" {
			d.Reason = causeOperator
		}
	case EvMessageDropped:
		d.Actor, d.Reason, d.MaybeDelivered = eventActor(ev.Actor), ev.Reason, m.State == Unsure
	case EvMessageDeferred:
		d.Attempt, d.Response, d.NextAttempt = m.Attempts, m.LastError, m.Release
	case EvMessageDelivered:
		d.Response = lastReply(m, RcptDelivered)
	case EvMessageFailed:
		d.Response = m.LastError
		if m.DSN != 0 {
			d.DSNMessageID = m.DSN.String()
		}
		for _, r := range m.Rcpts {
			if r.Reply != "" {
				d.RecipientResponses = append(d.RecipientResponses, rcptResponse{r.Addr, r.Reply})
			}
		}
	}
	b := d.appendFields(nil)
	if operator {
		t.fieldsKey, t.fields = key, b
	}
	return b
}

// lastReply is the upstream's last reply to a recipient in state st.
func lastReply(m *Message, st RcptState) string {
	for i := len(m.Rcpts) - 1; i >= 0; i-- {
		if m.Rcpts[i].State == st && m.Rcpts[i].Reply != "" {
			return m.Rcpts[i].Reply
		}
	}
	return ""
}
