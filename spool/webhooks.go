package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrExists is returned for a name already taken (a webhook's).
var ErrExists = errors.New("already exists")

// notFound is an error that says what was not found and is ErrNotFound,
// whose own words are about messages.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// Webhook is one endpoint subscribed to the outbox. The spool keeps it
// and its delivery cursor; package webhook does the delivery.
type Webhook struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Format string   `json:"format"`           // "standard" or "sendgrid"
	Events []string `json:"events,omitempty"` // types or prefixes ("message.*"); empty: all
	// Secret is the standard format's HMAC key; PrivateKey the SendGrid
	// format's PKCS#8 DER ECDSA P-256 key. They are stored so that relayd
	// can sign, and must never be shown again once `webhook add` has.
	Secret         []byte    `json:"secret,omitempty"`
	PrivateKey     []byte    `json:"private_key,omitempty"`
	Disabled       bool      `json:"disabled,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	Created        time.Time `json:"created"`
	CreatedBy      string    `json:"created_by"`
	// Cursor is the Seq of the last event acknowledged or given up.
	Cursor uint64 `json:"cursor"`
}

func (t *txn) webhook(name string) (Webhook, error) {
	v := t.hooks.Get([]byte(name))
	if v == nil {
		return Webhook{}, notFound(fmt.Sprintf("no such webhook %q", name))
	}
	var w Webhook
	if err := json.Unmarshal(v, &w); err != nil {
		return Webhook{}, fmt.Errorf("decode webhook %q: %w", name, err)
	}
	return w, nil
}

func (t *txn) putWebhook(w *Webhook) error {
	v, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return t.hooks.Put([]byte(w.Name), v)
}

// AddWebhook stores a new webhook, with the audit entry rec if set, and
// returns it as stored. Its cursor starts at the newest event: a new
// webhook gets the events from now on. A taken name is ErrExists.
func (s *Spool) AddWebhook(w Webhook, rec *AuditEntry) (Webhook, error) {
	if w.Name == "" || w.URL == "" {
		return Webhook{}, errors.New("add webhook: name and url are required")
	}
	err := s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		t.notify(noticeRecords, RecordsWebhooks)
		if t.hooks.Get([]byte(w.Name)) != nil {
			return fmt.Errorf("webhook %q: %w", w.Name, ErrExists)
		}
		w.Cursor = t.outbox.Sequence()
		return t.putWebhook(&w)
	})
	if err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// RemoveWebhook deletes a webhook, with the audit entry rec if set. Its
// undelivered events stay for the other webhooks and expire as usual.
// An unreadable one can be removed too: that is how an operator repairs it.
func (s *Spool) RemoveWebhook(name string, rec *AuditEntry) error {
	return s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		t.notify(noticeRecords, RecordsWebhooks)
		if t.hooks.Get([]byte(name)) == nil {
			return notFound(fmt.Sprintf("no such webhook %q", name))
		}
		return t.hooks.Delete([]byte(name))
	})
}

// Webhooks returns every webhook that can be read, by name. One that
// cannot is left out, for Unreadable to name, so that the others are
// still delivered and listed.
func (s *Spool) Webhooks() ([]Webhook, error) {
	var out []Webhook
	err := s.view(func(t *txn) error {
		out = out[:0]
		return t.hooks.ForEach(func(k, _ []byte) error {
			if w, err := t.webhook(string(k)); err == nil {
				out = append(out, w)
			}
			return nil
		})
	})
	return out, err
}

// Webhook returns one webhook, or ErrNotFound.
func (s *Spool) Webhook(name string) (Webhook, error) {
	var w Webhook
	err := s.view(func(t *txn) error {
		var err error
		w, err = t.webhook(name)
		return err
	})
	return w, err
}

// TestWebhook writes a webhook.test event for the named webhook only,
// with the audit entry rec if set, and returns it.
func (s *Spool) TestWebhook(name string, rec *AuditEntry) (OutboxEvent, error) {
	var ev OutboxEvent
	at, actor := time.Now(), ""
	if rec != nil {
		at, actor = rec.Time, rec.Actor
	}
	err := s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		if _, err := t.webhook(name); err != nil {
			return err
		}
		var err error
		ev, err = t.emitJSON(EvWebhookTest, at, adminData{Webhook: name, Actor: actor}, name)
		return err
	})
	return ev, err
}

// WebhookCursor returns the Seq of the last event the webhook is done
// with.
func (s *Spool) WebhookCursor(name string) (uint64, error) {
	w, err := s.Webhook(name)
	return w.Cursor, err
}

// AckWebhook records that the webhook is done with every event through
// Seq through. The cursor never moves back.
func (s *Spool) AckWebhook(name string, through uint64) error {
	return s.moveCursor(name, through, nil)
}

// GiveUpWebhook moves the cursor like AckWebhook past n events that
// outlived their delivery, and writes an audit entry saying so.
func (s *Spool) GiveUpWebhook(name string, through uint64, n int) error {
	rec := &AuditEntry{Time: time.Now(), Actor: "relayd", Action: "webhook give-up", Selector: "webhook=" + name,
		Counts: map[string]int{"given_up": n}, Detail: "through event " + strconv.FormatUint(through, 10)}
	return s.moveCursor(name, through, rec)
}

func (s *Spool) moveCursor(name string, through uint64, rec *AuditEntry) error {
	return s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		w, err := t.webhook(name)
		if err != nil || through <= w.Cursor {
			return err
		}
		w.Cursor = through
		return t.putWebhook(&w)
	})
}

// DisableWebhook marks a webhook disabled (its receiver answered 410 Gone)
// and writes an audit entry saying why.
func (s *Spool) DisableWebhook(name, reason string) error {
	rec := &AuditEntry{Time: time.Now(), Actor: "relayd", Action: "webhook disable", Selector: "webhook=" + name, Reason: reason}
	return s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		t.notify(noticeRecords, RecordsWebhooks)
		w, err := t.webhook(name)
		if err != nil {
			return err
		}
		w.Disabled, w.DisabledReason = true, reason
		return t.putWebhook(&w)
	})
}
