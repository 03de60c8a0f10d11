package relay

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
)

// session is one SMTP connection's state between RSETs. go-smtp makes a new
// one after STARTTLS, so TLS state never needs resetting here.
type session struct {
	in      *Intake
	conn    *smtp.Conn
	lim     *limitedConn // nil for a connection not from a limitListener
	remote  netip.Addr
	trusted bool
	// login and cred are set by a successful AUTH; cred is refreshed at
	// every MAIL, so settings changes apply to the next message.
	login *auth.Login
	cred  *auth.Credential
	// committing is held while a message goes into the spool, so that
	// revalidate, closing the session, can wait for it.
	committing sync.Mutex

	from string
	to   []string
}

func (in *Intake) newSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{in: in, conn: c, lim: limitedConnOf(c.Conn())}
	if s.lim != nil {
		s.lim.setReplyConn(c.Conn())
	}
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		s.remote = ap.Addr().Unmap()
	}
	s.trusted = in.trusted(s.remote)
	in.track(s, true)
	return s, nil
}

// authAllowed keeps passwords off the wire in clear: AUTH needs TLS, a
// loopback client, or the operator's explicit opt-in.
func (s *session) authAllowed() bool {
	if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		return true
	}
	if _, isUnix := s.conn.Conn().RemoteAddr().(*net.UnixAddr); isUnix {
		return true
	}
	return s.in.loopback(s.remote) || s.in.cfg.InsecureAuth
}

func (s *session) AuthMechanisms() []string {
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.authAllowed() {
		return nil, errEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return auth.NewPlainServer(s.authenticate), nil
	case sasl.Login:
		return auth.NewLoginServer(s.authenticate), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// authenticate must answer smtp.ErrAuthFailed (535) for every refusal:
// any other error becomes a 454, which tells clients to retry the same
// password.
func (s *session) authenticate(username, password string) error {
	cred, login, err := s.in.Login(s.remote, username, password)
	switch {
	case errors.Is(err, ErrLoginThrottled):
		return errThrottled
	case err != nil:
		return smtp.ErrAuthFailed
	}
	s.loggedIn(cred, login)
	return nil
}

func (s *session) loggedIn(cred auth.Credential, login auth.Login) {
	s.in.mu.Lock() // revalidate reads login from another goroutine
	s.login, s.cred = &login, &cred
	s.in.mu.Unlock()
	s.in.log.Debug("auth ok", "remote", s.remote, "credential", cred.Name)
}

func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer func() { s.in.observe(err) }()
	if s.login != nil {
		// The password this session logged in with may have been rotated
		// away or its credential disabled since: then it sends no more.
		cred, ok := s.in.creds.Check(*s.login)
		if !ok {
			return errLoginDead
		}
		s.cred = &cred
	} else if !s.trusted {
		return errAuthRequired
	}
	if !isASCII(from) {
		return errNonASCII
	}
	if from != "" && !validAddress(from) {
		return errBadSender
	}
	if c := s.cred; c != nil {
		if !c.SenderAllowed(from) {
			return errSenderNotAllowed
		}
		if c.MaxMessageSize > 0 && opts != nil && opts.Size > c.MaxMessageSize {
			return smtp.ErrDataTooLarge
		}
		if !s.in.TakeRate(c, 1) {
			return rateLimited(c.RateLimit)
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) (err error) {
	defer func() { s.in.observe(err) }()
	if !isASCII(to) {
		return errNonASCII
	}
	if !validAddress(to) {
		return errBadRcpt
	}
	// A repeated RCPT is accepted but delivered once (RFC 5321 3.3 allows
	// either), so one recipient never gets the same message twice.
	if !slices.Contains(s.to, to) {
		s.to = append(s.to, to)
	}
	return nil
}

func (s *session) Data(r io.Reader) (err error) {
	defer func() { s.in.observe(err) }()
	body := &inbound{budget: s.in.budget}
	defer body.release()
	msg, trace, err := s.receive(body, r)
	if err != nil {
		return err
	}
	if hasLineLongerThan(msg[trace:], s.in.cfg.MaxLineLength) {
		return errLineTooLong // BDAT chunks bypass go-smtp's line limit
	}
	if hasBareCR(msg[trace:]) {
		return errBareCR
	}
	if err := s.checkMessage(msg[trace:]); err != nil {
		return err
	}
	full, opts, err := s.in.scheduling(msg, trace)
	if err != nil {
		return err
	}
	if len(full) != len(msg) { // a copy, without the scheduling headers
		if err := body.keep(full); err != nil {
			return err
		}
	}
	// A login that died during DATA sends nothing: once the change that
	// killed it has closed this session, no message of it can arrive.
	s.committing.Lock()
	defer s.committing.Unlock()
	if s.login != nil {
		if _, ok := s.in.creds.Check(*s.login); !ok {
			return errLoginDead
		}
	}
	ms, err := s.in.Submit([]Submission{{Cred: s.cred, From: s.from, To: s.to, Message: full, Trace: trace, Options: opts}})
	if err != nil {
		s.in.log.Error("spool refused a message", "remote", s.remote, "err", err)
		return errSpool
	}
	return queuedReply(ms[0].ID)
}

// hangUp answers e and closes the connection, for a message cut off by a
// read deadline. The go-smtp in third_party would close it too, with the
// same 421 4.4.2, on failing to read the rest of the message; published
// go-smtp answers and goes on reading, taking that rest for commands.
// Closing here keeps the reply relay's own and the close independent of
// the patch.
func (s *session) hangUp(e *smtp.SMTPError) error {
	c := s.conn.Conn()
	c.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	writeReply(c, e)
	s.conn.Close()
	return e
}

func (s *session) checkMessage(body []byte) error { return CheckMessage(s.cred, body) }

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

// Logout is also how go-smtp ends a session at STARTTLS: from then until
// the next EHLO, where replies go is not known.
func (s *session) Logout() error {
	if s.lim != nil {
		s.lim.setReplyConn(nil)
	}
	s.in.track(s, false)
	return nil
}
