package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// run wires the daemon together and runs it until ctx ends, then shuts
// down like net/http: stop accepting, let work in flight finish within
// --shutdown-timeout, close the spool.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return usageError{err}
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	sp, err := spool.Open(filepath.Join(cfg.Data, "spool.db"))
	if err != nil {
		return err
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Error("closing the spool failed", "err", err)
		}
	}()
	creds, err := auth.New(sp, auth.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := bootstrap(creds, stdout); err != nil {
		return err
	}
	d, err := newDaemon(cfg, sp, creds, log)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// bootstrap creates the first credential so that a fresh relayd works with
// any SMTP client at once. The password is printed here and never again.
func bootstrap(creds *auth.Service, stdout io.Writer) error {
	if creds.Len() > 0 {
		return nil
	}
	_, pw, err := creds.Add("default", "created on first start", nil)
	if err != nil {
		return fmt.Errorf("create the first credential: %w", err)
	}
	fmt.Fprintf(stdout, "relayd: created the first credential; its password is shown only this once:\n  username: default\n  password: %s\n", pw)
	return nil
}

type daemon struct {
	cfg        config
	log        *slog.Logger
	intake     *relay.Intake
	dispatcher *relay.Dispatcher
	admin      *server.Server
	transport  upstream.Transport
	metrics    http.Handler
	spool      *spool.Spool
}

func newDaemon(cfg config, sp *spool.Spool, creds *auth.Service, log *slog.Logger) (*daemon, error) {
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	tr, err := upstream.New(cfg.Upstream, upstream.Options{Hostname: cfg.Hostname, Timeout: cfg.UpstreamTimeout})
	if err != nil {
		return nil, usageError{fmt.Errorf("--upstream: %w", err)}
	}
	tokens, err := parseTokens(cfg.AdminTokens)
	if err != nil {
		return nil, usageError{err}
	}
	nets, _ := cfg.trustedNetworks()
	size, _ := parseSize(cfg.MaxMessageSize)
	clk := clock.Real{}
	metrics, metricsHandler := newMetrics(sp)
	disp := relay.NewDispatcher(relay.DispatcherConfig{
		Concurrency: cfg.Concurrency, MaxAge: cfg.MaxQueueAge, Retention: cfg.Retention, Metrics: metrics,
	}, sp, tr, clk, log)
	in := relay.NewIntake(relay.IntakeConfig{
		Hostname: cfg.Hostname, MaxMessageBytes: size, MaxRecipients: cfg.MaxRecipients,
		MaxConnections: cfg.MaxConns, MaxConnectionsPerIP: cfg.MaxConnsPerIP,
		ReadTimeout: cfg.SMTPTimeout, MaxSessionDuration: cfg.MaxSession,
		Hold: cfg.Hold, TrustedNetworks: nets, InsecureAuth: cfg.InsecureAuth, TLS: tlsCfg, Metrics: metrics,
	}, sp, creds, clk, log, disp.Notify)
	adm := server.New(server.Options{
		Spool: sp, Creds: creds, Dispatcher: disp, Hold: cfg.Hold, Upstream: tr.String(), Version: version,
		Tokens: tokens, Log: log,
	})
	return &daemon{cfg: cfg, log: log, intake: in, dispatcher: disp, admin: adm, transport: tr, metrics: metricsHandler, spool: sp}, nil
}

func (d *daemon) run(ctx context.Context) error {
	smtpL, err := net.Listen("tcp", d.cfg.SMTPListen)
	if err != nil {
		return fmt.Errorf("--smtp-listen: %w", err)
	}
	var smtpsL net.Listener
	if d.cfg.SMTPSListen != "" {
		if smtpsL, err = net.Listen("tcp", d.cfg.SMTPSListen); err != nil {
			smtpL.Close()
			return fmt.Errorf("--smtps-listen: %w", err)
		}
	}
	adminL, adminTCP, err := server.Listen(d.cfg.AdminListen)
	if err != nil {
		smtpL.Close()
		if smtpsL != nil {
			smtpsL.Close()
		}
		return fmt.Errorf("--admin-listen: %w", err)
	}
	var metricsSrv *http.Server
	if d.cfg.MetricsListen != "" {
		ml, err := net.Listen("tcp", d.cfg.MetricsListen)
		if err != nil {
			smtpL.Close()
			adminL.Close()
			if smtpsL != nil {
				smtpsL.Close()
			}
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		metricsSrv = serveMetrics(ml, d.metrics)
	}

	// Each server reports here when it stops; an early stop ends the daemon.
	errc := make(chan error, 4)
	serving := 0
	start := func(name string, serve func() error) {
		serving++
		go func() {
			if err := serve(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errc <- nil
		}()
	}
	dispCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	drainCtx, stopDrain := context.WithCancel(context.Background())
	defer stopDrain()
	dispDone := make(chan struct{})
	go func() {
		d.dispatcher.Run(dispCtx, drainCtx)
		close(dispDone)
	}()
	go trimSpool(dispCtx, d.spool, d.log)
	start("smtp", func() error { return d.intake.Serve(smtpL, false) })
	if smtpsL != nil {
		start("smtps", func() error { return d.intake.Serve(smtpsL, true) })
	}
	start("admin", func() error { return d.admin.Serve(adminL, adminTCP) })
	d.log.Info("relayd started", "version", version, "smtp", smtpL.Addr().String(), "smtps", addrOf(smtpsL),
		"admin", d.cfg.AdminListen, "upstream", d.transport.String(), "hold", d.cfg.Hold, "data", d.cfg.Data)

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "timeout", d.cfg.ShutdownTimeout)
	case runErr = <-errc:
		serving--
		d.log.Error("a listener stopped; shutting down", "err", runErr)
	}
	// Intake and dispatcher wind down side by side within one deadline:
	// sessions finish their messages, deliveries in flight finish their
	// attempts, no new delivery starts. At the deadline both are cut.
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	stopDispatch()
	go func() {
		<-sctx.Done()
		stopDrain()
	}()
	d.intake.Shutdown(sctx)
	<-dispDone
	d.admin.Shutdown(sctx)
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	for ; serving > 0; serving-- {
		if err := <-errc; err != nil && runErr == nil {
			runErr = err
		}
	}
	d.log.Info("relayd stopped")
	return runErr
}

// trimInterval is how often relayd lets go of the spool pages it has
// read (see spool.TrimMemory): its resident memory then stays about its
// heap plus what five seconds of work touch, whatever the spool's size.
const trimInterval = 5 * time.Second

func trimSpool(ctx context.Context, sp *spool.Spool, log *slog.Logger) {
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := sp.TrimMemory(); err != nil {
				log.Debug("trimming spool pages failed", "err", err)
			}
		}
	}
}

func addrOf(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}

func loadTLS(cfg config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// parseTokens reads name:role:secret entries.
func parseTokens(specs []string) ([]server.Token, error) {
	var out []server.Token
	for _, s := range specs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
			return nil, errors.New("--admin-tokens: each entry is name:role:secret")
		}
		if parts[1] != "operator" && parts[1] != "support" {
			return nil, fmt.Errorf("--admin-tokens: token %s: role must be operator or support", parts[0])
		}
		if len(parts[2]) < 16 {
			return nil, fmt.Errorf("--admin-tokens: token %s: secret shorter than 16 characters", parts[0])
		}
		out = append(out, server.Token{Name: parts[0], Role: parts[1], Secret: parts[2]})
	}
	return out, nil
}

func newLogger(cfg config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", cfg.LogFormat)
}
