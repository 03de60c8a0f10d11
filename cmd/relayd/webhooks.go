package main

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// webhooks are relayd's webhook senders, one per webhook in the spool.
// On a spool shared by several nodes only one node delivers them, the
// one that leads "webhooks" (see runWebhooks); a webhook.Manager runs
// once, so each term of leadership runs a fresh one, made with the
// endpoints known when the last term ended. It is the admin server's
// server.Webhooks.
type webhooks struct {
	cfg webhook.Config
	sp  *spool.Spool
	log *slog.Logger

	// mu orders Add, Remove, reload and the change of managers: a
	// reload reads the spool and sets what it read under it, so that it
	// never undoes a change the admin server made after its commit.
	mu  sync.Mutex
	eps map[string]webhook.Endpoint
	// m is the running term's manager, or the next one's; read without
	// mu, so that Status does not wait for a sender being replaced.
	m atomic.Pointer[webhook.Manager]
}

var _ server.Webhooks = (*webhooks)(nil)

// newWebhooks makes the webhook senders. A webhook that cannot be read is
// logged and left out: the others, and the mail, go on.
func newWebhooks(cfg config, sp *spool.Spool, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (*webhooks, error) {
	logUnreadableWebhooks(sp, log)
	h := &webhooks{sp: sp, log: log, cfg: webhook.Config{Outbox: relay.Outbox{Spool: sp}, Clock: clk, Log: log,
		Metrics: webhook.NewMetrics(reg), MaxAge: cfg.WebhookMaxAge,
		// One for every term, so that a term's idle connections are
		// the next one's, not left open.
		Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	eps, err := loadEndpoints(sp, log)
	if err != nil {
		return nil, err
	}
	h.eps = eps
	return h, h.fresh()
}

// fresh makes the next term's manager. h.mu is held, or h not yet shared.
func (h *webhooks) fresh() error {
	m := webhook.NewManager(h.cfg)
	err := m.Set(slices.Collect(maps.Values(h.eps)))
	h.m.Store(m)
	return err
}

// loadEndpoints reads the webhooks from the spool, leaving out (and
// logging) those that cannot be used.
func loadEndpoints(sp *spool.Spool, log *slog.Logger) (map[string]webhook.Endpoint, error) {
	hooks, err := sp.Webhooks()
	if err != nil {
		return nil, err
	}
	eps := make(map[string]webhook.Endpoint, len(hooks))
	for _, w := range hooks {
		ep, err := server.Endpoint(w)
		if err == nil {
			err = ep.Validate() // Set takes all or none
		}
		if err != nil {
			log.Error("webhook left out", "webhook", w.Name, "err", err)
			continue
		}
		eps[ep.Name] = ep
	}
	return eps, nil
}

// reload reads the webhooks again, for a spool other nodes change; on
// failure the senders carry on as they were.
func (h *webhooks) reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	eps, err := loadEndpoints(h.sp, h.log)
	if err != nil {
		return err
	}
	if err := h.manager().Set(slices.Collect(maps.Values(eps))); err != nil {
		return err
	}
	h.eps = eps
	return nil
}

func (h *webhooks) Add(ep webhook.Endpoint) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.manager().Add(ep); err != nil {
		return err
	}
	h.eps[ep.Name] = ep
	return nil
}

func (h *webhooks) Remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.eps, name)
	h.manager().Remove(name)
}

func (h *webhooks) Status(name string) (webhook.Status, bool) {
	return h.manager().Status(name)
}

func (h *webhooks) notify() { h.manager().Notify() }

func (h *webhooks) manager() *webhook.Manager { return h.m.Load() }

// term delivers until ctx ends, then readies the next term.
func (h *webhooks) term(ctx context.Context) {
	h.manager().Run(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.fresh(); err != nil {
		h.log.Error("webhook senders not all ready for the next term", "err", err)
	}
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

// leadRetry is how long relayd waits to try again for the lead of
// webhook delivery after the spool refused it (its database unreachable).
const leadRetry = 5 * time.Second

// runWebhooks delivers the outbox until ctx ends, woken by each commit
// that writes events, while this node leads "webhooks" (on a spool of one
// node: always); a node that loses the lead stops its senders and waits
// to lead again. The returned channel closes once every sender has
// stopped, so that none acknowledges into a closed spool.
func runWebhooks(ctx context.Context, h *webhooks, sp *spool.Spool, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		go relay.Outbox{Spool: sp}.Watch(ctx, h.notify)
		for ctx.Err() == nil {
			lead, err := sp.Lead(ctx, "webhooks")
			if err != nil {
				if ctx.Err() == nil {
					log.Error("cannot take the lead of webhook delivery; trying again", "err", err, "in", leadRetry)
					sleepCtx(ctx, leadRetry)
				}
				continue
			}
			if sp.Clustered() {
				log.Info("this node delivers the webhooks")
			}
			h.term(lead)
			if ctx.Err() == nil {
				log.Warn("this node lost the lead of webhook delivery (its connection to the spool broke); another node may deliver them meanwhile")
			}
		}
	}()
	return done
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
