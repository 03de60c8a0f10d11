package relay

import (
	"context"

	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// Outbox is the spool's outbox as webhook senders read it: package webhook
// knows nothing of the spool, and the spool imports no other package of
// the project.
type Outbox struct{ Spool *spool.Spool }

var _ webhook.Outbox = Outbox{}

func (o Outbox) Cursor(endpoint string) (uint64, error) { return o.Spool.WebhookCursor(endpoint) }

func (o Outbox) Ack(endpoint string, through uint64) error {
	return o.Spool.AckWebhook(endpoint, through)
}

func (o Outbox) GiveUp(endpoint string, through uint64, n int) error {
	return o.Spool.GiveUpWebhook(endpoint, through, n)
}

func (o Outbox) Disable(endpoint, reason string) error {
	return o.Spool.DisableWebhook(endpoint, reason)
}

func (o Outbox) Events(after uint64, max int) ([]webhook.Event, error) {
	evs, err := o.Spool.Events(after, max)
	out := make([]webhook.Event, len(evs))
	for i, e := range evs {
		out[i] = webhook.Event{Seq: e.Seq, ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data, Endpoint: e.Endpoint}
	}
	return out, err
}

// Watch calls notify after each spool commit that wrote events, until ctx
// ends: how relayd wakes its webhook senders (webhook.Manager.Notify,
// which never blocks).
func (o Outbox) Watch(ctx context.Context, notify func()) {
	changed := o.Spool.EventsChanged()
	for {
		select {
		case <-changed:
			// The next channel first: a commit from now on closes it, and
			// the reads notify causes see every commit before.
			changed = o.Spool.EventsChanged()
			notify()
		case <-ctx.Done():
			return
		}
	}
}
