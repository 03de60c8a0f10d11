package relay

import (
	"errors"
	"io"
	"net"
	"net/netip"

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
	if from != "" && !validAddress(from) {
		return errBadSender
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !validAddress(to) {
		return errBadRcpt
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
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
	m, err := s.in.accept(s, body)
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

func (s *session) Logout() error { return nil }

// credentialName is "" for a trusted-network client that did not log in.
func (s *session) credentialName() string {
	if s.cred == nil {
		return ""
	}
	return s.cred.Name
}

// accept writes the message to the spool and wakes the dispatcher.
func (in *Intake) accept(s *session, body []byte) (spool.Message, error) {
	now := in.clock.Now()
	h := parseHeader(body)
	full := append(in.received(s, now), body...)
	m, err := in.spool.Accept(spool.Incoming{
		Credential: s.credentialName(),
		From:       s.from,
		To:         s.to,
		Subject:    h.subject,
		MessageID:  h.messageID,
		Received:   now,
		Release:    now.Add(in.holdFor(s.cred)),
	}, full)
	if err != nil {
		return m, err
	}
	in.notify(m.Release)
	in.log.Info("accepted", "id", m.ID, "credential", m.Credential, "from", m.From,
		"rcpts", len(m.Rcpts), "size", m.Size, "release", m.Release)
	return m, nil
}
