package spool

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Message is a message's record: everything the spool knows about it except
// its body. Values returned by the spool are copies the caller owns.
type Message struct {
	ID         ID          `json:"id"`
	Credential string      `json:"credential,omitempty"` // "" when relayed for a trusted network
	From       string      `json:"from"`
	Rcpts      []Recipient `json:"rcpts"`
	Size       int64       `json:"size"`
	Subject    string      `json:"subject,omitempty"`
	MessageID  string      `json:"message_id,omitempty"` // the Message-ID header
	Received   time.Time   `json:"received"`
	Release    time.Time   `json:"release"` // not sent before; for deferred, the next retry
	State      State       `json:"state"`
	Attempts   int         `json:"attempts"`
	LastError  string      `json:"last_error,omitempty"`
	Finished   time.Time   `json:"finished,omitzero"`
	// HeldBy says who holds a held message: HeldByOperator, HeldByPause
	// or HeldByFreeze.
	HeldBy string `json:"held_by,omitempty"`
	// Reason is why the message was last held or dropped.
	Reason string `json:"reason,omitempty"`
	// Intent is what an operator asked for while the message was being
	// sent; Finish carries it out once the attempt's outcome is known.
	Intent *Intent `json:"intent,omitempty"`
	// Interrupted records that an attempt was cut short by a crash: the
	// upstream may have the message although the spool never learnt it,
	// so a later drop cannot honestly say it was never delivered.
	Interrupted bool `json:"interrupted,omitempty"`
	// Batch, Categories, UniqueArgs and SendAt come from the client's
	// X-SMTPAPI or X-Relay-* headers (see package relay/smtpapi).
	Batch      string            `json:"batch,omitempty"`
	Categories []string          `json:"categories,omitempty"`
	UniqueArgs map[string]string `json:"unique_args,omitempty"`
	SendAt     time.Time         `json:"send_at,omitzero"` // the scheduled time asked for, if any
	// Upstream is the upstream that answered the last attempt, without
	// secrets ("smtp://smtp.example.com:587"): the one that took the
	// message, once it is delivered. "" before any attempt.
	Upstream string `json:"upstream,omitempty"`
	// DSN is the delivery status notification (bounce) that this failed
	// message's sender was sent; BounceOf, on that DSN, is the failed
	// message it reports. Both are set in the transaction that records
	// the failure (see Attempt.Bounce).
	DSN      ID `json:"dsn,omitempty"`
	BounceOf ID `json:"bounce_of,omitempty"`

	// history holds the events of the message's history that a bulk
	// action wrote into its record, in the binary form of codec.go (see
	// txn.inlineEvent); the rest are in the events bucket.
	history []byte
}

// Who holds a held message.
const (
	HeldByOperator = "operator"
	HeldByPause    = "pause"
	// HeldByFreeze: held because its credential was disabled. Enabling it
	// with a release lets go of these only; records written before this
	// holder existed say HeldByOperator.
	HeldByFreeze = "freeze"
	// HeldByBrake: held because the runaway brake stopped its
	// credential. Releasing the brake lets go of these only.
	HeldByBrake = "brake"
)

// Intent is a drop or hold that waits for a delivery attempt to end.
type Intent struct {
	Drop   bool   `json:"drop,omitempty"` // else hold
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// Holder holds the message if the attempt does not deliver it:
	// HeldByFreeze for a disable's hold, HeldByBrake for a brake's, else
	// ("") the operator.
	Holder string `json:"holder,omitempty"`
}

// Header is one of the main headers kept for support's view, which
// outlives the body.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Recipient is one envelope recipient and where its delivery stands.
type Recipient struct {
	Addr  string    `json:"addr"`
	State RcptState `json:"state"`
	// Reply is the upstream's last answer for this recipient.
	Reply string `json:"reply,omitempty"`
}

// RcptState tracks each recipient separately, so that a retry after a
// partial failure goes only to the recipients that did not get the message.
type RcptState uint8

const (
	RcptPending RcptState = iota
	RcptDelivered
	RcptFailed
)

var rcptStateNames = [...]string{"pending", "delivered", "failed"}

func (s RcptState) String() string {
	if int(s) < len(rcptStateNames) {
		return rcptStateNames[s]
	}
	return fmt.Sprintf("rcpt-state(%d)", uint8(s))
}

func (s RcptState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *RcptState) UnmarshalText(b []byte) error {
	for i, n := range rcptStateNames {
		if n == string(b) {
			*s = RcptState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown recipient state %q", b)
}

// Pending returns the addresses still to be delivered.
func (m *Message) Pending() []string {
	var out []string
	for _, r := range m.Rcpts {
		if r.State == RcptPending {
			out = append(out, r.Addr)
		}
	}
	return out
}

func (m *Message) clone() Message {
	c := *m
	c.Rcpts = append([]Recipient(nil), m.Rcpts...)
	c.Categories = slices.Clone(m.Categories)
	c.UniqueArgs = maps.Clone(m.UniqueArgs)
	c.history = slices.Clip(m.history)
	if m.Intent != nil {
		in := *m.Intent
		c.Intent = &in
	}
	return c
}
