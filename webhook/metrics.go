package webhook

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the webhook counters, by endpoint name. A nil *Metrics
// counts nothing.
type Metrics struct {
	requests *prometheus.CounterVec // by endpoint and result: ok, failed, gone
	events   *prometheus.CounterVec // by endpoint and outcome: delivered, given_up
}

// NewMetrics makes the webhook metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_webhook_requests_total", Help: "Webhook POSTs, by endpoint and result (ok, failed, gone)."},
			[]string{"endpoint", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_webhook_events_total", Help: "Events that left the outbox for an endpoint, by outcome (delivered, given_up)."},
			[]string{"endpoint", "outcome"}),
	}
	reg.MustRegister(m.requests, m.events)
	return m
}

func (m *Metrics) request(endpoint, result string) {
	if m != nil {
		m.requests.WithLabelValues(endpoint, result).Inc()
	}
}

func (m *Metrics) settled(endpoint, outcome string, n int) {
	if m != nil && n > 0 {
		m.events.WithLabelValues(endpoint, outcome).Add(float64(n))
	}
}
