package main

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// spoolCollector reports the spool's counters at each scrape: they are
// kept in the spool file, so reading them costs the same on any spool.
type spoolCollector struct {
	sp       *spool.Spool
	messages *prometheus.Desc
	pauses   *prometheus.Desc
	events   *prometheus.Desc
	backlog  *prometheus.Desc
	braked   *prometheus.Desc
	nextDue  *prometheus.Desc
}

func newSpoolCollector(sp *spool.Spool) *spoolCollector {
	return &spoolCollector{
		sp: sp,
		messages: prometheus.NewDesc("relay_messages", "Messages in the spool, by state (finished ones until their retention ends).",
			[]string{"state"}, nil),
		pauses: prometheus.NewDesc("relay_pauses", "Pauses in force (global or per credential).", nil, nil),
		events: prometheus.NewDesc("relay_events_written_total", "Events written to the outbox since the spool was created.", nil, nil),
		braked: prometheus.NewDesc("relay_brake_braked_credentials", "Credentials the runaway brake holds, until an operator releases them.", nil, nil),
		backlog: prometheus.NewDesc("relay_webhook_backlog", "Outbox events past a webhook's cursor, whether or not it subscribes to them.",
			[]string{"endpoint"}, nil),
		nextDue: prometheus.NewDesc("relay_queue_next_due_timestamp_seconds",
			"When the earliest message not yet sent is or was due (queued, or waiting for its release or next attempt); absent with none. Far in the past: due mail is not being sent.",
			nil, nil),
	}
}

func (c *spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.pauses
	ch <- c.events
	ch <- c.backlog
	ch <- c.braked
	ch <- c.nextDue
}

func (c *spoolCollector) Collect(ch chan<- prometheus.Metric) {
	if counts, err := c.sp.Counts(); err == nil {
		for _, st := range spool.States {
			ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(counts[st]), st.String())
		}
	}
	if at, ok, err := c.sp.NextDue(); err == nil && ok {
		ch <- prometheus.MustNewConstMetric(c.nextDue, prometheus.GaugeValue, float64(at.UnixNano())/1e9)
	}
	if ps, err := c.sp.Pauses(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.pauses, prometheus.GaugeValue, float64(len(ps)))
	}
	if bs, err := c.sp.Brakes(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.braked, prometheus.GaugeValue, float64(len(bs)))
	}
	last, err := c.sp.LastEventSeq()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(last))
	if hooks, err := c.sp.Webhooks(); err == nil {
		for _, w := range hooks {
			ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(last-min(last, w.Cursor)), w.Name)
		}
	}
}

// newMetrics registers the relay's metrics, the spool's gauges and the Go
// runtime's, and returns the counters, the registry for more and the
// /metrics handler.
func newMetrics(sp *spool.Spool) (*relay.Metrics, prometheus.Registerer, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newSpoolCollector(sp))
	m := relay.NewMetrics(reg)
	return m, reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// registerReady adds relay_ready: what /readyz would answer, for alerts
// that read metrics rather than probe. It costs what a probe costs.
func registerReady(reg prometheus.Registerer, r *readiness) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_ready",
		Help: "1 while relayd serves and its spool takes writes (as /readyz, draining aside), else 0."},
		func() float64 {
			if r.ready() != nil {
				return 0
			}
			return 1
		}))
}

// serveMetrics serves /metrics, and the health probes /livez and
// /readyz, on l until the server is shut down: whatever scrapes relayd
// may probe it there too, without a token.
func serveMetrics(l net.Listener, h, health http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	mux.Handle("/livez", health)
	mux.Handle("/readyz", health)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)} // stderr stays in --log-format
	go srv.Serve(l)
	return srv
}
