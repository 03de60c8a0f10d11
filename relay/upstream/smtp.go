package upstream

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// tlsMode is how an SMTP upstream protects the session.
type tlsMode int

const (
	tlsRequired      tlsMode = iota // STARTTLS, or no delivery at all
	tlsOpportunistic                // STARTTLS when offered
	tlsNone                         // never STARTTLS: loopback tests only
	tlsImplicit                     // smtps: TLS from the first byte
)

// quitTimeout bounds QUIT: it is a courtesy once the outcome is known, and a
// server slow to answer it must not hold a delivery slot for a full Timeout.
const quitTimeout = 10 * time.Second

// writeChunk is how much of the body is written under one write deadline, so
// that Timeout bounds each stall rather than the whole transfer.
const writeChunk = 64 << 10

type smtpTransport struct {
	addr        string
	mode        tlsMode
	user, pass  string
	hostname    string
	tlsConfig   *tls.Config
	dialTimeout time.Duration
	timeout     time.Duration
	desc        string
	pool        pool

	mu     sync.Mutex
	active map[*attempt]struct{} // for Interrupt
}

func newSMTP(u *url.URL, opts Options) (*smtpTransport, error) {
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("upstream URL: %s:// needs a host", u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.Fragment != "" {
		return nil, fmt.Errorf("upstream URL: %s:// takes no path", u.Scheme)
	}
	port, err := parsePort(u)
	if err != nil {
		return nil, err
	}
	mode, err := parseTLS(u)
	if err != nil {
		return nil, err
	}
	t := &smtpTransport{
		addr:        net.JoinHostPort(host, port),
		mode:        mode,
		hostname:    cmp.Or(opts.Hostname, "localhost"),
		dialTimeout: cmp.Or(opts.DialTimeout, 30*time.Second),
		timeout:     cmp.Or(opts.Timeout, 5*time.Minute),
	}
	if u.User != nil {
		pass, ok := u.User.Password()
		if u.User.Username() == "" || !ok {
			return nil, errors.New("upstream URL: credentials need both a user and a password")
		}
		t.user, t.pass = u.User.Username(), pass
	}
	t.tlsConfig = &tls.Config{}
	if opts.TLSConfig != nil {
		t.tlsConfig = opts.TLSConfig.Clone()
	}
	if t.tlsConfig.ServerName == "" {
		t.tlsConfig.ServerName = host
	}
	t.desc = t.describe(u.Scheme, u.RawQuery)
	return t, nil
}

func parsePort(u *url.URL) (string, error) {
	port := u.Port()
	if port == "" {
		if u.Scheme == "smtps" {
			return "465", nil
		}
		return "587", nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("upstream URL: bad port %q", port)
	}
	return port, nil
}

func parseTLS(u *url.URL) (tlsMode, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return 0, fmt.Errorf("upstream URL: bad query: %w", err)
	}
	for k, v := range q {
		if k != "tls" {
			return 0, fmt.Errorf("upstream URL: unknown parameter %q (only tls= is known)", k)
		}
		if len(v) > 1 {
			return 0, errors.New("upstream URL: tls= given twice")
		}
	}
	if u.Scheme == "smtps" {
		if q.Has("tls") {
			return 0, errors.New("upstream URL: tls= applies to smtp:// only; smtps:// is always TLS")
		}
		return tlsImplicit, nil
	}
	switch v := q.Get("tls"); {
	case !q.Has("tls"):
		return tlsRequired, nil
	case v == "none":
		return tlsNone, nil
	case v == "opportunistic":
		return tlsOpportunistic, nil
	default:
		return 0, fmt.Errorf("upstream URL: bad tls=%q (want tls=none or tls=opportunistic; STARTTLS is required without it)", v)
	}
}

// describe renders the URL back without the password.
func (t *smtpTransport) describe(scheme, query string) string {
	u := url.URL{Scheme: scheme, Host: t.addr, RawQuery: query}
	if t.user != "" {
		u.User = url.User(t.user)
	}
	return u.String()
}

func (t *smtpTransport) String() string { return t.desc }

func (t *smtpTransport) Deliver(ctx context.Context, env Envelope, body []byte) []Outcome {
	out := outcomes(env.To)
	if len(out) == 0 {
		return out
	}
	for {
		if ctx.Err() != nil {
			return settle(out, 0, msgCancelled)
		}
		a := &attempt{t: t, ctx: ctx}
		if s := t.pool.get(time.Now()); s != nil {
			a.raw, a.conn, a.c, a.secure, a.born, a.reused = s.raw, s.conn, s.c, s.secure, s.born, true
		} else {
			d := net.Dialer{Timeout: t.dialTimeout}
			raw, err := d.DialContext(ctx, "tcp", t.addr)
			if err != nil {
				if ctx.Err() != nil {
					return settle(out, 0, msgCancelled)
				}
				return settle(out, 0, err.Error())
			}
			a.raw, a.born = raw, time.Now()
		}
		t.track(a, true)
		err := a.deliver(env, body, out)
		t.track(a, false)
		if a.stale(err) {
			// The upstream had closed the idle session: nothing of this
			// message reached it, so a fresh connection may try again.
			continue
		}
		if err != nil {
			code, msg := a.failure(err)
			settle(out, code, msg)
			if a.unanswered {
				unknown(out)
			}
		}
		return out
	}
}

// unknown marks the recipients the upstream accepted, which the failure of
// the transaction left with Code 0, as possibly delivered.
func unknown(out []Outcome) {
	for i := range out {
		if out[i].Code == 0 {
			out[i].Unknown = true
		}
	}
}

func (t *smtpTransport) track(a *attempt, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active == nil {
		t.active = map[*attempt]struct{}{}
	}
	if on {
		t.active[a] = struct{}{}
	} else {
		delete(t.active, a)
	}
}

// Interrupt cuts every delivery in progress, even one waiting for the
// reply to its end-of-data dot: the shutdown deadline bounds everything.
func (t *smtpTransport) Interrupt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for a := range t.active {
		a.interrupt()
	}
}

// CloseIdle closes the sessions kept for reuse. The dispatcher calls it
// when it has nothing left to deliver, and at shutdown.
func (t *smtpTransport) CloseIdle() { t.pool.closeIdle() }

// phase is where an attempt stands with respect to the end-of-data dot,
// which decides what cancellation may do.
type phase int

const (
	talking   phase = iota // cancellation closes the connection
	finishing              // the dot is on its way: only the reply can tell what happened
	answered               // the dot's reply is in: cancellation closes the connection again
	aborted                // the connection was closed because of cancellation
)

// attempt is one transaction on a connection to the upstream: a new one,
// or one kept from an earlier transaction (reused).
type attempt struct {
	t      *smtpTransport
	ctx    context.Context
	raw    net.Conn // under any TLS; closing it unblocks every read and write
	conn   net.Conn // what c talks over: raw, or the TLS connection on it
	c      *smtp.Client
	secure bool      // the session runs over TLS
	born   time.Time // when the connection was opened
	reused bool      // the session came from the pool: no greeting, EHLO, TLS or AUTH
	began  bool      // the upstream accepted MAIL FROM
	clean  bool      // the upstream answered the end-of-data dot: no transaction is open
	// unanswered: the dot may have gone out but no reply came, so the
	// upstream may have the message.
	unanswered bool

	mu     sync.Mutex
	phase  phase
	closed bool // raw was closed because of cancellation
}

// localError is a stop decided by the relay while the session is healthy,
// so a QUIT can still be said. It maps to Code 0: the cause (TLS policy,
// rejected credentials) lies with the relay's configuration, not the message.
type localError struct{ msg string }

func (e *localError) Error() string { return e.msg }

func localf(format string, args ...any) error {
	return &localError{fmt.Sprintf(format, args...)}
}

// watch closes the connection when ctx ends, unless the dot is on its way.
// The returned func stops watching and waits for a watcher already running,
// so that no goroutine outlives Deliver.
func (a *attempt) watch() (stop func()) {
	done := make(chan struct{})
	unregister := context.AfterFunc(a.ctx, func() {
		defer close(done)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.phase == finishing {
			return
		}
		if a.phase == talking {
			a.phase = aborted // an answered DATA keeps its reply
		}
		a.closed = true
		a.raw.Close()
	})
	return func() {
		if !unregister() {
			<-done
		}
	}
}

// commit is called just before the dot is sent. It reports false, and
// aborts, if cancellation came first: the dot must then never be sent.
func (a *attempt) commit() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase == aborted || a.ctx.Err() != nil {
		a.phase = aborted
		a.closed = true
		a.raw.Close()
		return false
	}
	a.phase = finishing
	return true
}

// stop ends the attempt before its dot: the connection is closed, so
// the upstream, which has the body but no dot, discards it.
func (a *attempt) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phase = aborted
	a.closed = true
	a.raw.Close()
}

// interrupt closes the connection whatever the phase. Past the dot, the
// outcome is then unknown.
func (a *attempt) interrupt() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase == talking {
		a.phase = aborted
	}
	a.closed = true
	a.raw.Close()
}

func (a *attempt) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

func (a *attempt) setPhase(p phase) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phase = p
}

func (a *attempt) cancelled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.phase == aborted || (a.phase == talking && a.ctx.Err() != nil)
}

func (a *attempt) failure(err error) (code int, msg string) {
	if a.cancelled() {
		return 0, msgCancelled
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code < 400 {
			// A positive reply where go-smtp wanted another (a 250 to
			// DATA, say: an upstream out of step with us) delivered
			// nothing: it must never read as success.
			return 0, fmt.Sprintf("protocol error: unexpected reply %d %s", se.Code, replyText(se))
		}
		return se.Code, replyText(se)
	}
	return 0, err.Error()
}

// deliver runs the transaction, then pools the session if it ended cleanly
// and closes it otherwise.
func (a *attempt) deliver(env Envelope, body []byte, out []Outcome) error {
	stop := a.watch()
	err := a.run(env, body, out)
	stop()
	a.mu.Lock()
	reusable := a.clean && !a.closed && a.ctx.Err() == nil
	a.mu.Unlock()
	if reusable {
		a.t.pool.put(&session{raw: a.raw, conn: a.conn, c: a.c, secure: a.secure, born: a.born}, time.Now())
		return err
	}
	a.quit(err)
	a.raw.Close()
	return err
}

// stale reports whether err means that a reused session had been closed by
// the upstream while it sat idle: an I/O error or a 421 before the upstream
// accepted MAIL FROM, so before any of the message was sent.
func (a *attempt) stale(err error) bool {
	if err == nil || !a.reused || a.began || a.cancelled() {
		return false
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	// Only a broken connection means the upstream let the session go;
	// go-smtp's own refusals (a line it will not send) are no reason to
	// close every kept session.
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// quit says QUIT when the session is known to be healthy: after an I/O
// error or cancellation it could only stall, and closing is enough.
func (a *attempt) quit(err error) {
	var se *smtp.SMTPError
	var le *localError
	healthy := err == nil || errors.As(err, &se) || errors.As(err, &le)
	if a.c == nil || !healthy || a.ctx.Err() != nil {
		return
	}
	a.c.CommandTimeout = min(a.t.timeout, quitTimeout)
	a.c.Quit()
}

func (a *attempt) run(env Envelope, body []byte, out []Outcome) error {
	body = crlfOnly(body) // no bare CR on the wire: see crlf.go
	if !a.reused {
		if err := a.open(); err != nil {
			return err
		}
	}
	accepted, err := a.envelope(env, len(body), out)
	if err != nil || len(accepted) == 0 {
		return err
	}
	reply, err := a.data(body, env.BeforeDot)
	if err != nil {
		return err
	}
	for _, i := range accepted {
		out[i].Code, out[i].Message = 250, reply
	}
	return nil
}

// open takes the session from the TCP connection to ready-for-MAIL:
// greeting, EHLO, TLS and AUTH.
func (a *attempt) open() error {
	conn := a.raw
	if a.t.mode == tlsImplicit {
		tc := tls.Client(a.raw, a.t.tlsConfig)
		if err := a.handshake(tc); err != nil {
			return err
		}
		conn = tc
	}
	a.c = a.client(conn)
	if err := a.c.Hello(a.t.hostname); err != nil {
		return err
	}
	if err := a.startTLS(); err != nil {
		return err
	}
	return a.login()
}

func (a *attempt) client(conn net.Conn) *smtp.Client {
	a.conn = bounded(conn)
	c := smtp.NewClient(a.conn)
	c.CommandTimeout = a.t.timeout
	c.SubmissionTimeout = a.t.timeout
	return c
}

func (a *attempt) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(a.ctx, a.t.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake with %s: %w", a.t.addr, err)
	}
	a.secure = true
	return nil
}

func (a *attempt) login() error {
	if a.t.user == "" {
		return nil
	}
	if !a.secure && a.t.mode != tlsNone {
		return localf("refusing to send credentials in clear: the upstream did not offer STARTTLS")
	}
	if !a.c.SupportsAuth(sasl.Plain) {
		return localf("the upstream does not offer AUTH PLAIN")
	}
	err := a.c.Auth(sasl.NewPlainClient("", a.t.user, a.t.pass))
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		// Like Postfix's smtp_sasl_auth_soft_bounce: a refused password is
		// the relay's misconfiguration, so defer rather than bounce the mail.
		return localf("the upstream refused our credentials: %d %s", se.Code, replyText(se))
	}
	if err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	return nil
}

// envelope sends MAIL and one RCPT per recipient, recording refusals in out,
// and returns the indexes of the recipients the upstream accepted.
func (a *attempt) envelope(env Envelope, size int, out []Outcome) ([]int, error) {
	utf8 := !isASCII(env.From) || slices.ContainsFunc(env.To, func(s string) bool { return !isASCII(s) })
	opts := &smtp.MailOptions{Size: int64(size), UTF8: utf8}
	if err := a.c.Mail(env.From, opts); err != nil {
		return nil, err
	}
	a.began = true
	var accepted []int
	for i, rcpt := range env.To {
		err := a.c.Rcpt(rcpt, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case errors.As(err, &se):
			out[i].Code, out[i].Message = se.Code, replyText(se)
		default:
			return nil, err
		}
	}
	return accepted, nil
}

// data sends the body and returns the upstream's reply to the dot.
func (a *attempt) data(body []byte, beforeDot func() error) (string, error) {
	w, err := a.c.Data()
	if err != nil {
		return "", err
	}
	if verbatim(body) {
		// Nothing to escape: the body goes straight to the connection
		// rather than byte by byte through the dot-stuffing writer, all
		// but its last CRLF, which the writer's Close sends before the dot.
		err = a.write(a.conn, body[:len(body)-2])
	} else {
		err = a.write(w, body)
	}
	if err != nil {
		return "", err
	}
	if beforeDot != nil {
		// Before the dot's deadline: the gate may wait its turn for a
		// lock, and the dot must still have its whole timeout.
		if err := beforeDot(); err != nil {
			a.stop()
			return "", fmt.Errorf("%s: %w", msgCancelled, err)
		}
	}
	a.raw.SetWriteDeadline(time.Now().Add(a.t.timeout))
	if !a.commit() {
		return "", errors.New(msgCancelled)
	}
	resp, err := w.CloseWithResponse()
	a.setPhase(answered)
	var se *smtp.SMTPError
	a.clean = err == nil || (errors.As(err, &se) && se.Code != 421)
	switch {
	case err == nil:
		return resp.StatusText, nil
	case errors.As(err, &se):
		return "", err
	default:
		a.unanswered = true
		if a.isClosed() {
			// Only Interrupt closes the connection while the dot is out.
			err = errors.New("interrupted")
		}
		return "", fmt.Errorf("no reply to the end of data (the upstream may have the message): %w", err)
	}
}

// write sends the body in chunks, each under its own deadline: go-smtp sets
// none while the body is written.
func (a *attempt) write(w io.Writer, body []byte) error {
	for len(body) > 0 {
		n := min(len(body), writeChunk)
		a.raw.SetWriteDeadline(time.Now().Add(a.t.timeout))
		if _, err := w.Write(body[:n]); err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		body = body[n:]
	}
	return nil
}

// verbatim reports whether body is already what the DATA dot-stuffing
// writer (net/textproto's) would send: CRLF line ends, ending in one, no
// line that starts with a dot, and no CR CR (after which that writer would
// turn the next LF into CR LF).
func verbatim(body []byte) bool {
	return bytes.HasSuffix(body, crlf) && body[0] != '.' &&
		!bytes.Contains(body, []byte("\n.")) && !bytes.Contains(body, []byte("\r\r")) &&
		bytes.Count(body, []byte("\n")) == bytes.Count(body, crlf)
}

var crlf = []byte("\r\n")

// replyText renders an upstream reply on one line, enhanced code first.
func replyText(se *smtp.SMTPError) string {
	msg := strings.ReplaceAll(se.Message, "\n", " ")
	e := se.EnhancedCode
	if e == smtp.EnhancedCodeNotSet || e == smtp.NoEnhancedCode {
		return msg
	}
	return fmt.Sprintf("%d.%d.%d %s", e[0], e[1], e[2], msg)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
