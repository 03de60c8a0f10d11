package relay

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus counters. A nil *Metrics counts
// nothing, so tests and embedders need not set one up.
type Metrics struct {
	accepted     prometheus.Counter
	refused      *prometheus.CounterVec // by SMTP reply code
	authFailures *prometheus.CounterVec // by reason: password, throttled
	attempts     *prometheus.CounterVec // by the state an attempt left the message in
	inflightMem  prometheus.Gauge       // bytes held by messages being received
	brakeTrips   *prometheus.CounterVec // by trigger: loop, rate
	signatures   prometheus.Counter     // DKIM signatures added
	bounces      prometheus.Counter     // DSNs accepted for failed messages
}

// NewMetrics makes the relay's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_smtp_accepted_total", Help: "Messages accepted (fsynced, answered 250)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_smtp_refused_total", Help: "SMTP commands refused by the relay's own rules, by reply code."},
			[]string{"code"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_auth_failures_total", Help: "Failed logins: wrong credentials, or refused by the throttle."},
			[]string{"reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_delivery_attempts_total", Help: "Delivery attempts, by the state they left the message in."},
			[]string{"result"}),
		inflightMem: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relay_smtp_inflight_bytes", Help: "Memory held by messages being received, charged against --max-inflight-bytes."}),
		signatures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_dkim_signatures_total", Help: "DKIM signatures added to delivery attempts."}),
		bounces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_bounces_total", Help: "Delivery status notifications (bounces) spooled for failed messages."}),
	}
	m.brakeTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_brake_trips_total", Help: "Runaway brake trips, by trigger (loop, rate)."}, []string{"trigger"})
	for _, t := range []string{"loop", "rate"} {
		m.brakeTrips.WithLabelValues(t) // shown at 0 before the first trip
	}
	reg.MustRegister(m.accepted, m.refused, m.authFailures, m.attempts, m.inflightMem, m.signatures, m.bounces, m.brakeTrips)
	return m
}

func (m *Metrics) accept() {
	if m != nil {
		m.accepted.Inc()
	}
}

func (m *Metrics) refuse(code int) {
	if m != nil {
		m.refused.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) authFailed(reason string) {
	if m != nil {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) attempt(result string) {
	if m != nil {
		m.attempts.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) signed(n int) {
	if m != nil && n > 0 {
		m.signatures.Add(float64(n))
	}
}

func (m *Metrics) bounced() {
	if m != nil {
		m.bounces.Inc()
	}
}

func (m *Metrics) inflight(delta int64) {
	if m != nil {
		m.inflightMem.Add(float64(delta))
	}
}

func (m *Metrics) brakeTripped(trigger string) {
	if m != nil {
		m.brakeTrips.WithLabelValues(trigger).Inc()
	}
}
