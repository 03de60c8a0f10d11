package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/relay/mailapi"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// run wires the daemon together and runs it until ctx ends, then shuts
// down like net/http: stop accepting, let work in flight finish within
// --shutdown-timeout, close the spool. Settings are judged before anything
// is created, and listeners opened before the first credential's password
// is printed, so that a start that fails does not use up its only showing.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return usageError{err}
	}
	// From here SIGHUP reloads rather than kills; a reload waits until
	// relayd serves.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	certs, err := newCertStore(cfg)
	if err != nil {
		return err
	}
	if err := makeDataDir(cfg.Data, log); err != nil {
		return err
	}
	sp, err := openSpool(ctx, cfg, log)
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
	d, err := newDaemon(cfg, certs, sp, creds, log)
	if err != nil {
		return err
	}
	ls, err := d.listen()
	if err != nil {
		return err
	}
	first, err := bootstrap(creds, stdout)
	if err == nil && first && ls.console != nil {
		err = printFirstLink(d.admin, stdout)
	}
	if err != nil {
		ls.close()
		return err
	}
	return d.run(ctx, ls, hup)
}

// makeDataDir creates the data directory, or makes an existing one of
// relayd's 0700: the spool in it holds every message and the credentials'
// hashes. An existing directory that holds anything else (--data /srv,
// $HOME) is not relayd's to change: the start is refused, as a wrong
// --data is, rather than lock others out of it or leave the spool open.
func makeDataDir(path string, log *slog.Logger) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	mode := fi.Mode().Perm()
	if mode == 0o700 {
		return nil
	}
	if ours, err := isDataDir(path); err != nil {
		return fmt.Errorf("data directory: %w", err)
	} else if !ours {
		return usageError{fmt.Errorf("--data %s: the directory has mode %04o and holds files other than relayd's; "+
			"relayd keeps its spool in a directory of mode 0700 and changes no other directory's mode: "+
			"give --data a directory of its own (it is created 0700), or make this one 0700", path, mode)}
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return fmt.Errorf("data directory %s has mode %04o and cannot be made 0700: %w", path, mode, err)
	}
	log.Warn("data directory mode changed to 0700", "data", path, "was", fmt.Sprintf("%04o", mode))
	return nil
}

// isDataDir reports whether the directory is relayd's: empty, or holding
// its spool.
func isDataDir(path string) (bool, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Name() == "spool.db" {
			return true, nil
		}
	}
	return len(entries) == 0, nil
}

// bootstrap creates the first credential so that a fresh relayd works with
// any SMTP client at once. The password is printed here and never again.
func bootstrap(creds *auth.Service, stdout io.Writer) (first bool, err error) {
	if creds.Len() > 0 {
		return false, nil
	}
	_, pw, err := creds.Add("default", "created on first start", nil)
	if err != nil {
		return false, fmt.Errorf("create the first credential: %w", err)
	}
	fmt.Fprintf(stdout, "relayd: created the first credential; its password is shown only this once:\n  username: default\n  password: %s\n  api key:  %s\n", pw, auth.APIKey("default", pw))
	return true, nil
}

type daemon struct {
	cfg        config
	log        *slog.Logger
	intake     *relay.Intake
	mailAPI    *mailapi.Server
	dispatcher *relay.Dispatcher
	admin      *server.Server
	transport  upstream.Transport
	fallback   string // --upstream-fallback without secrets, for the log
	metrics    http.Handler
	spool      *spool.Spool
	creds      *auth.Service
	hooks      *webhooks
	ready      *readiness
	systemd    systemd
	reloader   *reloader
	certs      *certStore
}

func newDaemon(cfg config, certs *certStore, sp *spool.Spool, creds *auth.Service, log *slog.Logger) (*daemon, error) {
	upOpts := upstream.Options{Hostname: cfg.Hostname, Timeout: cfg.UpstreamTimeout}
	tr, err := upstream.New(cfg.Upstream, upOpts)
	if err != nil {
		return nil, usageError{fmt.Errorf("--upstream: %w", err)}
	}
	var fallback upstream.Transport
	fallbackText := ""
	if cfg.UpstreamFallback != "" {
		if fallback, err = upstream.New(cfg.UpstreamFallback, upOpts); err != nil {
			return nil, usageError{fmt.Errorf("--upstream-fallback: %w", err)}
		}
		fallbackText = fallback.String()
	}
	nets, _ := cfg.trustedNetworks()
	size, _ := parseSize(cfg.MaxMessageSize)
	inflight, _ := parseSize(cfg.MaxInflight)
	setMemoryLimit(inflight, log)
	clk := clock.Real{}
	metrics, reg, metricsHandler := newMetrics(sp)
	ready := newReadiness(sp, clk, log)
	registerReady(reg, ready)
	keys := &dkim.Keyring{}
	if err := server.LoadDKIM(sp, keys); err != nil {
		log.Error("dkim keys not all loaded; mail of their domains goes unsigned", "err", err)
	}
	disp := relay.NewDispatcher(relay.DispatcherConfig{
		Concurrency: cfg.Concurrency, MaxAge: cfg.MaxQueueAge, Retention: cfg.Retention, Metrics: metrics,
		EventMaxAge: cfg.WebhookMaxAge, Signer: keys, Bounces: cfg.Bounces == "on", Hostname: cfg.Hostname,
		Fallback: fallback, Routes: credentialRoutes(creds), Upstream: upOpts,
	}, sp, tr, clk, log)
	hooks, err := newWebhooks(cfg, sp, clk, log, reg)
	if err != nil {
		return nil, err
	}
	in := relay.NewIntake(relay.IntakeConfig{
		Hostname: cfg.Hostname, MaxMessageBytes: size, MaxInflightBytes: inflight, MaxRecipients: cfg.MaxRecipients,
		MaxConnections: cfg.MaxConns, MaxConnectionsPerIP: cfg.MaxConnsPerIP,
		ReadTimeout: cfg.SMTPTimeout, MaxSessionDuration: cfg.MaxSession,
		Hold: cfg.Hold, TrustedNetworks: nets, InsecureAuth: cfg.InsecureAuth, TLS: certs.tlsConfig(), Metrics: metrics,
		Brake: &relay.BrakeConfig{Duplicates: cfg.BrakeDuplicates, Rate: cfg.BrakeRate}, Abort: disp.Abort,
	}, sp, creds, clk, log, disp.Notify)
	adm := server.New(server.Options{
		Spool: sp, Creds: creds, Dispatcher: disp, Hold: cfg.Hold, Upstream: tr.String(), Version: version,
		UpstreamFallback: fallbackText, CheckUpstream: upstream.Check,
		Tokens: cfg.AdminTokens.tokens, Log: log, Webhooks: hooks, Ready: ready.ready, DKIM: keys,
		Brake: server.BrakeDefaults{Duplicates: cfg.BrakeDuplicates, Rate: cfg.BrakeRate}, BrakeReset: in.ResetBrake,
		Node: cfg.NodeName,
	})
	api := mailapi.New(mailapi.Options{Intake: in, Clock: clk, Log: log, TLS: certs.tlsConfig()})
	sd := newSystemd(log)
	rl := &reloader{cfg: cfg, env: os.LookupEnv, certs: certs, admin: adm, clk: clk, log: log, systemd: sd,
		metrics: newReloadMetrics(reg, certs, clk.Now())}
	return &daemon{cfg: cfg, log: log, intake: in, mailAPI: api, dispatcher: disp, admin: adm, transport: tr, fallback: fallbackText, metrics: metricsHandler, spool: sp,
		creds: creds, hooks: hooks, ready: ready, systemd: sd, reloader: rl, certs: certs}, nil
}

// listeners are the daemon's, open before it serves.
type listeners struct {
	smtp, smtps, admin, metrics net.Listener // smtps, http, metrics and console may be nil
	http, console               net.Listener
	adminTCP                    bool
}

func (d *daemon) listen() (*listeners, error) {
	ls := &listeners{}
	var err error
	fail := func(flag string, err error) (*listeners, error) {
		ls.close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if ls.smtp, err = net.Listen("tcp", d.cfg.SMTPListen); err != nil {
		return fail("--smtp-listen", err)
	}
	if d.cfg.SMTPSListen != "" {
		if ls.smtps, err = net.Listen("tcp", d.cfg.SMTPSListen); err != nil {
			return fail("--smtps-listen", err)
		}
	}
	if d.cfg.HTTPListen != "" {
		if ls.http, err = net.Listen("tcp", d.cfg.HTTPListen); err != nil {
			return fail("--http-listen", err)
		}
	}
	if ls.admin, ls.adminTCP, err = server.Listen(d.cfg.AdminListen); err != nil {
		return fail("--admin-listen", err)
	}
	var consoleURL string
	if ls.console, consoleURL, err = listenConsole(d.cfg.ConsoleListen, d.certs.tlsConfig()); err != nil {
		return fail("--console-listen", err)
	}
	if ls.console != nil {
		d.admin.SetConsoleURL(consoleURL)
	}
	if d.cfg.MetricsListen != "" {
		if ls.metrics, err = net.Listen("tcp", d.cfg.MetricsListen); err != nil {
			return fail("--metrics-listen", err)
		}
	}
	return ls, nil
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.smtp, ls.smtps, ls.http, ls.admin, ls.metrics, ls.console} {
		if l != nil {
			l.Close()
		}
	}
}

func (d *daemon) run(ctx context.Context, ls *listeners, hup <-chan os.Signal) error {
	var metricsSrv *http.Server
	if ls.metrics != nil {
		metricsSrv = serveMetrics(ls.metrics, d.metrics, d.admin.Health(), d.log)
	}

	// Each server reports here when it stops; an early stop ends the daemon.
	errc := make(chan error, 6)
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
	// Webhook senders stop after everything else that writes events, and
	// before the spool closes.
	hooksCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	hooksDone := runWebhooks(hooksCtx, d.hooks, d.spool, d.log)
	recordsCtx, stopRecords := context.WithCancel(context.WithoutCancel(ctx))
	recordsDone := watchRecords(recordsCtx, d.spool.RecordsChanged(), d.recordLoaders(), d.log)
	start("smtp", func() error { return d.intake.Serve(ls.smtp, false) })
	if ls.smtps != nil {
		start("smtps", func() error { return d.intake.Serve(ls.smtps, true) })
	}
	if ls.http != nil {
		start("http", func() error { return d.mailAPI.Serve(ls.http) })
	}
	start("admin", func() error { return d.admin.Serve(ls.admin, ls.adminTCP) })
	var consoleSrv *http.Server
	if ls.console != nil {
		consoleSrv = consoleServer(d.admin, d.log)
		start("console", func() error { return serveConsole(consoleSrv, ls.console) })
	}
	d.ready.serving.Store(true)
	d.log.Info("relayd started", "version", version, "smtp", ls.smtp.Addr().String(), "smtps", addrOf(ls.smtps), "http", addrOf(ls.http), "console", addrOf(ls.console),
		"admin", d.cfg.AdminListen, "upstream", d.transport.String(), "upstream_fallback", d.fallback, "hold", d.cfg.Hold, "data", d.cfg.Data,
		"spool", d.spoolWhere(), "node", d.cfg.NodeName)
	defer d.systemd.ready()() // the watchdog is pinged until relayd has stopped
	stopReloads := d.reloader.watch(hup)
	defer func() {
		// Before the spool closes.
		stopRecords()
		<-recordsDone
	}()

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "timeout", d.cfg.ShutdownTimeout)
	case runErr = <-errc:
		serving--
		d.log.Error("a listener stopped; shutting down", "err", runErr)
	}
	stopReloads()
	// Probes see the drain before the intake stops accepting, so that a
	// load balancer sends elsewhere while work in flight finishes.
	d.admin.Drain()
	d.systemd.stopping()
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
	if ls.http != nil {
		d.mailAPI.Shutdown(sctx)
	}
	d.intake.Shutdown(sctx)
	<-dispDone
	if consoleSrv != nil {
		consoleSrv.Shutdown(sctx)
	}
	d.admin.Shutdown(sctx)
	stopHooks()
	<-hooksDone
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

// recordLoaders reload relayd's copies of the spool's records, by kind
// (see watchRecords).
func (d *daemon) recordLoaders() map[string]func() error {
	return map[string]func() error{
		spool.RecordsCredentials: d.creds.Reload,
		spool.RecordsDKIM:        d.admin.ReloadDKIM,
		spool.RecordsTokens:      d.admin.ReloadTokens,
		spool.RecordsWebhooks:    d.hooks.reload,
	}
}

// spoolWhere names the spool for the log, without a password.
func (d *daemon) spoolWhere() string {
	u, _ := parseSpool(d.cfg.Spool)
	return u.where
}

// trimInterval is how often relayd lets go of the spool pages it has
// read (see spool.TrimMemory): its resident memory then stays about its
// heap plus what a second of work touches, whatever the spool's size. A
// trim costs a millisecond or two of kernel time; at five seconds, an
// accept load against a million spooled messages kept 176–219 MB mapped.
const trimInterval = time.Second

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

// memoryHeadroom is what relayd may use beyond the messages being
// received: the spool's pages, its indexes, sessions and deliveries.
const memoryHeadroom = 512 << 20

// setMemoryLimit gives the garbage collector a soft limit of the inflight
// budget plus a headroom, unless GOMEMLIMIT says otherwise: without one,
// the heap may grow to twice its live size before a collection, and a burst
// of large messages showed three times the budget resident.
func setMemoryLimit(inflight int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := inflight + memoryHeadroom
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}

// credentialRoutes reads a credential's own upstreams for the dispatcher,
// at every attempt, so that a change applies from the next one.
func credentialRoutes(creds *auth.Service) func(string) relay.Route {
	return func(name string) relay.Route {
		c, ok := creds.Get(name)
		if !ok {
			return relay.Route{}
		}
		return relay.Route{Primary: c.Upstream, Fallback: c.UpstreamFallback}
	}
}
