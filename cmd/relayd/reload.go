package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/internal/clock"
)

// reloader is what SIGHUP does: read the TLS certificate and key and the
// admin tokens again and put them in force, all or nothing. Whatever
// fails (a file that cannot be read, a key that does not match its
// certificate, a malformed admin-tokens entry, a TCP admin API left with
// no token) keeps every old setting, is logged at error level, counted
// in relay_reload_failures_total and shown by systemctl status.
//
// What a reload reads again: the two PEM files, and the admin tokens by
// the same precedence as at start. Tokens given with --admin-tokens on
// the command line cannot change, nor can RELAY_ADMIN_TOKENS (a running
// process's environment is fixed when it starts): those stay as they
// were. Otherwise the config file is read again and its admin-tokens key
// taken (its absence meaning no tokens). Every other setting, in the
// file or not, takes a restart.
type reloader struct {
	cfg     config
	env     func(string) (string, bool)
	certs   *certStore // nil: no TLS
	admin   *server.Server
	clk     clock.Clock
	log     *slog.Logger
	systemd systemd
	metrics *reloadMetrics
}

// reload runs one reload and reports its error, already logged.
func (r *reloader) reload() error {
	r.systemd.reloading()
	r.log.Info("reloading the TLS certificate and admin tokens (SIGHUP)")
	attrs, err := r.apply()
	at := r.clk.Now().UTC().Format(time.RFC3339)
	if err != nil {
		r.metrics.failures.Inc()
		r.metrics.lastOK.Set(0)
		r.log.Error("reload failed; the previous TLS certificate and admin tokens stay in force", "err", err)
		r.systemd.readyAgain(fmt.Sprintf("Reload failed at %s (serving with the previous certificate and tokens): %v", at, err))
		return err
	}
	r.metrics.succeeded(r.clk.Now())
	r.log.Info("reloaded", attrs...)
	r.systemd.readyAgain("Reloaded at " + at)
	return nil
}

// apply loads everything first and changes nothing until all of it
// loaded: SetTokens, the last step that may fail, checks before it swaps.
func (r *reloader) apply() ([]any, error) {
	var cert *tls.Certificate
	var attrs []any
	if r.certs != nil {
		var err error
		if cert, err = r.certs.load(); err != nil {
			return nil, err
		}
		attrs = certAttrs(cert)
	}
	tokens, source, err := r.cfg.tokensAgain(r.env)
	if err != nil {
		return nil, err
	}
	if err := r.admin.SetTokens(tokens); err != nil {
		return nil, fmt.Errorf("admin tokens from %s: %w", source, err)
	}
	if cert != nil {
		r.certs.set(cert)
	}
	return append(attrs, "admin_tokens", len(tokens), "tokens_from", source), nil
}

// tokensAgain reads the admin tokens as relayd's start did (see
// reloader), and says where they came from.
func (c config) tokensAgain(lookupEnv func(string) (string, bool)) ([]server.Token, string, error) {
	if c.TokensOnCommandLine {
		return c.AdminTokens.tokens, "the command line (unchanged)", nil
	}
	name := envName("admin-tokens")
	if _, ok := lookupEnv(name); ok {
		return c.AdminTokens.tokens, name + " (unchanged)", nil
	}
	if c.ConfigFile == "" {
		return nil, "no source", nil
	}
	source := "config file " + c.ConfigFile
	file, err := readConfigFile(c.ConfigFile, settingsFlags())
	if err != nil {
		return nil, source, err
	}
	var l tokenList
	if v, ok := file["admin-tokens"]; ok {
		if err := l.Set(v); err != nil {
			return nil, source, fmt.Errorf("config file %s: key admin-tokens: %w", c.ConfigFile, err)
		}
	}
	return l.tokens, source, nil
}

// settingsFlags is a flag set with every setting, to judge a config
// file's keys by.
func settingsFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("relayd", pflag.ContinueOnError)
	new(config).flags(fs)
	return fs
}

type reloadMetrics struct {
	lastSuccess prometheus.Gauge
	lastOK      prometheus.Gauge
	failures    prometheus.Counter
}

// newReloadMetrics registers the reload's metrics, and the expiry of the
// certificate in force when there is one. The start counts as the first
// successful load, as Prometheus's own config reload metrics do.
func newReloadMetrics(reg prometheus.Registerer, certs *certStore, now time.Time) *reloadMetrics {
	m := &reloadMetrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "relay_reload_last_success_timestamp_seconds",
			Help: "When the TLS certificate and admin tokens were last loaded: at start or by a successful SIGHUP reload."}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "relay_reload_last_successful",
			Help: "1 if the last load of the TLS certificate and admin tokens succeeded, 0 if the last reload failed."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_reload_failures_total",
			Help: "SIGHUP reloads that failed and kept the previous certificate and tokens."}),
	}
	reg.MustRegister(m.lastSuccess, m.lastOK, m.failures)
	if certs != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_tls_certificate_expiry_timestamp_seconds",
			Help: "When the TLS certificate in force expires (its NotAfter)."},
			func() float64 { return float64(certs.notAfter().Unix()) }))
	}
	m.succeeded(now)
	return m
}

func (m *reloadMetrics) succeeded(at time.Time) {
	m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
	m.lastOK.Set(1)
}

// watch reloads at each signal on hup until stop is called; stop
// waits for a reload under way.
func (r *reloader) watch(hup <-chan os.Signal) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-hup:
				r.reload()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
