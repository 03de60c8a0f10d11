package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/spool"
)

// IntakeConfig bounds and shapes the SMTP intake. Zero values take the
// defaults noted.
type IntakeConfig struct {
	Hostname        string        // greeting and Received header; "" = "localhost"
	MaxMessageBytes int64         // 0 = 25 MiB
	MaxRecipients   int           // 0 = 100
	MaxLineLength   int           // 0 = 2000 (RFC 5321's 1000, doubled as go-smtp does)
	ReadTimeout     time.Duration // per command, and for a whole DATA transfer; 0 = 5m (RFC 5321 4.5.3.2)
	WriteTimeout    time.Duration // 0 = 1m
	// Abuse limits (see limits.go); 0 takes the default, negative is none.
	MaxConnections      int           // open SMTP connections in all; 0 = 1000
	MaxConnectionsPerIP int           // open SMTP connections from one address; 0 = 100
	MaxSessionDuration  time.Duration // a whole SMTP session; 0 = 1h
	// MaxInflightBytes bounds the memory of the messages being received,
	// all sessions together (see budget.go); 0 = 512 MiB.
	MaxInflightBytes int64
	Hold             time.Duration // the global hold window
	// TrustedNetworks may send without AUTH.
	TrustedNetworks []netip.Prefix
	// InsecureAuth offers AUTH over plaintext to non-loopback clients.
	InsecureAuth bool
	// TLS, when set, enables STARTTLS and the implicit-TLS listener.
	TLS *tls.Config
	// Metrics, when set, counts accepts, refusals and failed logins.
	Metrics *Metrics
	// Brake holds the runaway brake's global thresholds; nil takes
	// DefaultBrake.
	Brake *BrakeConfig
	// Abort cuts the transfers of messages in flight (the dispatcher's
	// Abort): a brake's trip calls it for its credential's. Nil: none
	// are cut, and they finish their attempt.
	Abort func(context.Context, []spool.ID) error
}

func (c *IntakeConfig) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 25 << 20
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 100
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = 2000
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = time.Minute
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 1000
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = 100
	}
	if c.MaxSessionDuration == 0 {
		c.MaxSessionDuration = time.Hour
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = 512 << 20
	}
	if c.Brake == nil {
		b := DefaultBrake
		c.Brake = &b
	}
}

// Intake is the SMTP side of the relay.
type Intake struct {
	cfg    IntakeConfig
	spool  *spool.Spool
	creds  *auth.Service
	clock  clock.Clock
	log    *slog.Logger
	notify func(release time.Time)
	srv    *smtp.Server
	// loopback decides whether a client may AUTH without TLS. Tests
	// replace it: every test client really is on 127.0.0.1.
	loopback func(netip.Addr) bool

	throttle *throttle
	rates    *rateLimiter
	limits   *connLimits
	budget   *budget
	brake    *detector

	mu        sync.Mutex
	sessions  map[*session]struct{} // open sessions, to close at the shutdown deadline
	listeners []net.Listener        // handed to Serve, for Shutdown to close
	done      chan struct{}         // closed by Shutdown: stops grace-period timers
}

// NewIntake builds the intake. notify is called after each accepted message
// with its release time, so the dispatcher can wake for it; it may be nil.
func NewIntake(cfg IntakeConfig, sp *spool.Spool, creds *auth.Service, clk clock.Clock, log *slog.Logger, notify func(time.Time)) *Intake {
	cfg.setDefaults()
	if notify == nil {
		notify = func(time.Time) {}
	}
	in := &Intake{cfg: cfg, spool: sp, creds: creds, clock: clk, log: log, notify: notify,
		loopback: netip.Addr.IsLoopback, sessions: map[*session]struct{}{}, done: make(chan struct{}),
		throttle: newThrottle(clk), rates: newRateLimiter(clk), limits: newConnLimits(cfg, log),
		budget: &budget{max: cfg.MaxInflightBytes, metrics: cfg.Metrics}, brake: newDetector(*cfg.Brake)}
	creds.OnChange(in.revalidate)
	s := smtp.NewServer(smtp.BackendFunc(in.newSession))
	s.Domain = cfg.Hostname
	s.MaxMessageBytes = cfg.MaxMessageBytes
	s.MaxRecipients = cfg.MaxRecipients
	s.MaxLineLength = cfg.MaxLineLength
	s.ReadTimeout = cfg.ReadTimeout
	s.WriteTimeout = cfg.WriteTimeout
	s.TLSConfig = cfg.TLS
	// go-smtp decides per server; the session decides per connection
	// (see authAllowed), so the server must let every session ask.
	s.AllowInsecureAuth = true
	s.ErrorLog = slogPrinter{log}
	in.srv = s
	return in
}

// Serve accepts SMTP connections on l until Shutdown, within the
// connection limits. With implicitTLS, l is wrapped in TLS first (the
// smtps listener).
func (in *Intake) Serve(l net.Listener, implicitTLS bool) error {
	// go-smtp closes only the listeners its Serve has registered, so a
	// Shutdown that comes first would leave l accepting forever.
	in.mu.Lock()
	select {
	case <-in.done:
		in.mu.Unlock()
		l.Close()
		return nil
	default:
	}
	in.listeners = append(in.listeners, l)
	in.mu.Unlock()
	l = replyBatchListener{l} // each reply in one write (replies_conn.go)
	l = &limitListener{Listener: l, lim: in.limits, greet: !implicitTLS, domain: in.cfg.Hostname}
	if implicitTLS {
		if in.cfg.TLS == nil {
			return errors.New("implicit TLS listener needs a certificate")
		}
		l = tls.NewListener(l, in.cfg.TLS)
	}
	err := in.srv.Serve(l)
	select {
	case <-in.done:
		return nil // Shutdown closed l, maybe before go-smtp knew it was closing
	default:
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for sessions to end until ctx is done,
// then closes the rest. (go-smtp's Close does nothing once Shutdown has
// begun, so the intake closes its own sessions.)
func (in *Intake) Shutdown(ctx context.Context) error {
	in.mu.Lock()
	select {
	case <-in.done:
	default:
		close(in.done)
	}
	listeners := in.listeners
	in.listeners = nil
	in.mu.Unlock()
	for _, l := range listeners {
		l.Close()
	}
	err := in.srv.Shutdown(ctx)
	// go-smtp closing a listener closed above is no failure.
	if err == nil || errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	// Close outside the lock: closing calls Logout, which untracks.
	in.mu.Lock()
	open := make([]*session, 0, len(in.sessions))
	for s := range in.sessions {
		open = append(open, s)
	}
	in.mu.Unlock()
	for _, s := range open {
		s.conn.Close()
	}
	return err
}

// revalidate closes the sessions of a credential whose login has died
// (guarantee 5: rotation bites). While an old password is in its grace
// period, it looks again when the grace ends.
func (in *Intake) revalidate(name string) {
	in.mu.Lock()
	var dead []*session
	for s := range in.sessions {
		if s.login != nil && s.login.Name == name {
			if _, ok := in.creds.Check(*s.login); !ok {
				dead = append(dead, s)
			}
		}
	}
	in.mu.Unlock()
	for _, s := range dead {
		in.log.Info("closing a session whose login is no longer valid", "credential", name, "remote", s.remote)
		s.conn.Close()
		// A message whose data had all arrived may be going into the
		// spool: wait for it. Then, when a disable returns, no message
		// of the credential is still on its way in.
		s.committing.Lock()
		s.committing.Unlock()
	}
	if c, ok := in.creds.Get(name); ok && !c.GraceUntil.IsZero() {
		timer := in.clock.TimerAt(c.GraceUntil)
		go func() {
			defer timer.Stop()
			select {
			case <-timer.C():
				in.revalidate(name)
			case <-in.done:
			}
		}()
	}
}

func (in *Intake) track(s *session, open bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if open {
		in.sessions[s] = struct{}{}
	} else {
		delete(in.sessions, s)
	}
}

// observe counts what a MAIL, RCPT or DATA answered.
func (in *Intake) observe(err error) {
	var se *smtp.SMTPError
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Code == 250:
		in.cfg.Metrics.accept()
	case errors.As(err, &se):
		in.cfg.Metrics.refuse(se.Code)
	}
}

func (in *Intake) trusted(ip netip.Addr) bool {
	for _, p := range in.cfg.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// holdFor is the credential's own hold window if it has one.
func (in *Intake) holdFor(cred *auth.Credential) time.Duration {
	if cred != nil && cred.Hold != nil {
		return *cred.Hold
	}
	return in.cfg.Hold
}

// slogPrinter lets go-smtp's error log go to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...any) { p.log.Warn("smtp server", "detail", fmt.Sprint(v...)) }
