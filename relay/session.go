package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// session is one SMTP connection's state between RSETs. go-smtp makes a new
// one after STARTTLS, so TLS state never needs resetting here.
type session struct {
	in      *Intake
	conn    *smtp.Conn
	remote  netip.Addr
	trusted bool
	cred    *auth.Credential // set by a successful AUTH

	from string
	to   []string
}

func (in *Intake) newSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{in: in, conn: c}
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
		return auth.NewPlainServer(s.login), nil
	case sasl.Login:
		return auth.NewLoginServer(s.login), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login must answer smtp.ErrAuthFailed (535) for every refusal: any other
// error becomes a 454, which tells clients to retry the same password.
func (s *session) login(username, password string) error {
	cred, err := s.in.creds.Verify(username, password)
	if err != nil {
		s.in.log.Info("auth failed", "remote", s.remote)
		return smtp.ErrAuthFailed
	}
	s.cred = &cred
	s.in.log.Debug("auth ok", "remote", s.remote, "credential", cred.Name)
	return nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.cred == nil && !s.trusted {
		return errAuthRequired
	}
	if !isASCII(from) {
		return errNonASCII
	}
	if from != "" && !validAddress(from) {
		return errBadSender
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
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

func (s *session) Data(r io.Reader) error {
	// The Received header goes first, and the message is read straight in
	// after it: one copy of a message of up to 25 MiB, not three.
	var buf bytes.Buffer
	buf.Write(s.in.received(s, s.in.clock.Now()))
	trace := buf.Len()
	_, err := buf.ReadFrom(r)
	if err != nil {
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se):
			return se // too large
		case errors.Is(err, smtp.ErrTooLongLine):
			return errLineTooLong
		}
		return errSpool
	}
	m, err := s.in.accept(s, buf.Bytes(), trace)
	if err != nil {
		s.in.log.Error("spool refused a message", "remote", s.remote, "err", err)
		return errSpool
	}
	return queuedReply(m.ID)
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error {
	s.in.track(s, false)
	return nil
}

// credentialName is "" for a trusted-network client that did not log in.
func (s *session) credentialName() string {
	if s.cred == nil {
		return ""
	}
	return s.cred.Name
}

// accept writes the message (whose first trace bytes are our Received
// header) to the spool and wakes the dispatcher.
func (in *Intake) accept(s *session, full []byte, trace int) (spool.Message, error) {
	now := in.clock.Now()
	h := parseHeader(full[trace:])
	m, err := in.spool.Accept(spool.Incoming{
		Credential: s.credentialName(),
		From:       s.from,
		To:         s.to,
		Subject:    h.subject,
		MessageID:  h.messageID,
		Received:   now,
		Release:    now.Add(in.holdFor(s.cred)),
		Headers:    h.main,
	}, full)
	if err != nil {
		return m, err
	}
	in.notify(m.Release)
	in.log.Info("accepted", "id", m.ID, "credential", m.Credential, "from", m.From,
		"rcpts", len(m.Rcpts), "size", m.Size, "release", m.Release)
	return m, nil
}
