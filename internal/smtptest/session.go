package smtptest

import (
	"errors"
	"io"
	"slices"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// errAuthRequired is RFC 4954's answer to MAIL before AUTH; go-smtp's own
// ErrAuthRequired says 502.
var errAuthRequired = &smtp.SMTPError{
	Code:         530,
	EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message:      "Authentication required",
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if hook := b.s.OnSession; hook != nil {
		if err := hook(c.Hostname()); err != nil {
			return nil, err
		}
	}
	return &session{s: b.s, c: c}, nil
}

type session struct {
	s          *Server
	c          *smtp.Conn
	from       string
	to         []string
	user, pass string
}

func (se *session) AuthMechanisms() []string {
	if se.s.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.s.Users == nil || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		want, ok := se.s.Users[user]
		if !ok || pass != want || (identity != "" && identity != user) {
			return smtp.ErrAuthFailed
		}
		se.user, se.pass = user, pass
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.Users != nil && se.user == "" {
		return errAuthRequired
	}
	if hook := se.s.OnMail; hook != nil {
		if err := hook(from); err != nil {
			return err
		}
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if hook := se.s.OnRcpt; hook != nil {
		if err := hook(to); err != nil {
			return err
		}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		var smtpErr *smtp.SMTPError
		if !errors.As(err, &smtpErr) {
			se.s.mu.Lock()
			se.s.aborted++
			se.s.mu.Unlock()
		}
		return err
	}
	_, isTLS := se.c.TLSConnectionState()
	m := Message{
		From: se.from, To: slices.Clone(se.to), Data: data,
		Hello: se.c.Hostname(), TLS: isTLS,
		Username: se.user, Password: se.pass,
	}
	if g := se.s.gate(&se.s.endGate); g != nil {
		g.wait(se.s.done)
	}
	if hook := se.s.OnData; hook != nil {
		if err := hook(m); err != nil {
			return err
		}
	}
	se.s.record(m)
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }
