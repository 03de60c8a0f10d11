package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// newWebhooks makes the webhook senders, one per webhook in the spool. A
// webhook that cannot be read is logged and left out: the others, and the
// mail, go on.
func newWebhooks(cfg config, sp *spool.Spool, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (*webhook.Manager, error) {
	logUnreadableWebhooks(sp, log)
	m := webhook.NewManager(webhook.Config{Outbox: relay.Outbox{Spool: sp}, Clock: clk, Log: log,
		Metrics: webhook.NewMetrics(reg), MaxAge: cfg.WebhookMaxAge})
	hooks, err := sp.Webhooks()
	if err != nil {
		return nil, err
	}
	eps := make([]webhook.Endpoint, 0, len(hooks))
	for _, w := range hooks {
		ep, err := server.Endpoint(w)
		if err == nil {
			err = ep.Validate() // Set takes all or none
		}
		if err != nil {
			log.Error("webhook left out", "webhook", w.Name, "err", err)
			continue
		}
		eps = append(eps, ep)
	}
	return m, m.Set(eps)
}

// logUnreadableWebhooks says loudly which webhook records the spool
// could not decode and left out: their receivers get nothing until an
// operator removes and adds them again.
func logUnreadableWebhooks(sp *spool.Spool, log *slog.Logger) {
	bad, err := sp.Unreadable()
	if err != nil {
		log.Error("reading the spool's records failed", "err", err)
	}
	for _, r := range bad {
		if name, ok := strings.CutPrefix(r, "webhook "); ok {
			log.Error("webhook record unreadable: it gets no events until it is removed and added again", "webhook", name)
		}
	}
}

// runWebhooks delivers the outbox until ctx ends, woken by each commit
// that writes events; the returned channel closes once every sender has
// stopped, so that none acknowledges into a closed spool.
func runWebhooks(ctx context.Context, m *webhook.Manager, sp *spool.Spool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		go relay.Outbox{Spool: sp}.Watch(ctx, m.Notify)
		m.Run(ctx)
	}()
	return done
}
