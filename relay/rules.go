package relay

import (
	"errors"
	"net"
	"net/mail"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// This file is what an intake other than SMTP (the HTTP Mail Send API,
// relay/mailapi) needs to apply a credential's rules with the same code
// as SMTP: the login with its throttle and cache, the rate limit, the
// checks of a message's From: fields and size. Its errors are the SMTP
// replies SMTP gives; other intakes compare them with errors.Is.

// Errors of Login.
var (
	// ErrLoginThrottled: too many failed logins from the client's address
	// or at the username; the password was not checked.
	ErrLoginThrottled = errors.New("too many failed logins; try again later")
	// ErrLoginFailed: a wrong or dead username or password.
	ErrLoginFailed = errors.New("authentication failed")
)

// Errors of CheckMessage and CheckSender.
var (
	ErrSenderNotAllowed = errSenderNotAllowed
	ErrFromNotAllowed   = errFromNotAllowed
	ErrManyFroms        = errManyFroms
	ErrTooLarge         = smtp.ErrDataTooLarge
)

// Login checks a username and password from a client at remote, under the
// failed-login throttle and through the login cache, exactly as SMTP AUTH
// does. It logs a failure without the password.
func (in *Intake) Login(remote netip.Addr, username, password string) (auth.Credential, auth.Login, error) {
	// A password this process has already proven costs no argon2 and is
	// no guess: it takes no place under the throttle, so an application
	// opening many sessions at once is not taken for a guesser. A blocked
	// client gets no such shortcut, or it would be a free oracle; a
	// miss is counted below like any attempt.
	if in.throttle.blocked(remote, username) {
		return auth.Credential{}, auth.Login{}, in.throttled(remote)
	}
	if cred, login, ok := in.creds.Remembered(username, password); ok {
		in.throttle.succeeded(&attempt{addr: remote, user: username})
		return cred, login, nil
	}
	a := in.throttle.allow(remote, username)
	if a == nil {
		return auth.Credential{}, auth.Login{}, in.throttled(remote)
	}
	cred, login, err := in.creds.Authenticate(username, password)
	if err != nil {
		in.cfg.Metrics.authFailed("credentials")
		in.log.Info("auth failed", "remote", remote)
		in.throttle.failed(a) // it stays counted
		return auth.Credential{}, auth.Login{}, ErrLoginFailed
	}
	in.throttle.succeeded(a)
	return cred, login, nil
}

func (in *Intake) throttled(remote netip.Addr) error {
	in.log.Warn("auth throttled", "remote", remote)
	in.cfg.Metrics.authFailed("throttled")
	return ErrLoginThrottled
}

// LoginValid reports whether the password of a login still works, and
// returns its credential as it is now.
func (in *Intake) LoginValid(l auth.Login) (auth.Credential, bool) { return in.creds.Check(l) }

// TakeRate spends n messages of the credential's per-minute allowance,
// all or none, and reports whether it had them.
func (in *Intake) TakeRate(c *auth.Credential, n int) bool {
	return in.rates.take(c.Name, c.RateLimit, n)
}

// MaxMessageBytes is the largest message the intake takes (--max-message-size).
func (in *Intake) MaxMessageBytes() int64 { return in.cfg.MaxMessageBytes }

// MaxRecipients is the most recipients one message may have.
func (in *Intake) MaxRecipients() int { return in.cfg.MaxRecipients }

// Hostname is the intake's name, for Message-IDs and trace headers.
func (in *Intake) Hostname() string { return in.cfg.Hostname }

// CheckSender applies the credential's allowed senders to an envelope
// sender.
func CheckSender(c *auth.Credential, from string) error {
	if c != nil && !c.SenderAllowed(from) {
		return ErrSenderNotAllowed
	}
	return nil
}

// CheckMessage applies the credential's size limit to the message itself,
// refuses a message with more than one From: field (RFC 5322 section 3.6:
// receivers disagree on which one is the author), and checks the From:
// addresses when the credential allows only some senders. c is nil for a
// client that did not log in.
func CheckMessage(c *auth.Credential, body []byte) error {
	if c != nil && c.MaxMessageSize > 0 && int64(len(body)) > c.MaxMessageSize {
		return ErrTooLarge
	}
	n, froms := fromFields(body)
	if n > 1 {
		return ErrManyFroms
	}
	if c == nil || len(c.AllowedSenders) == 0 {
		return nil
	}
	if n == 0 {
		return ErrFromNotAllowed
	}
	for _, v := range froms {
		if !fromAllowed(c, v) {
			return ErrFromNotAllowed
		}
	}
	return nil
}

// fromAllowed reports whether every address of a From: value is one the
// credential may send as; a value that does not parse is not.
func fromAllowed(c *auth.Credential, value string) bool {
	list, err := mail.ParseAddressList(value)
	if err != nil {
		return false
	}
	for _, a := range list {
		if !c.SenderAllowed(a.Address) {
			return false
		}
	}
	return true
}

// ValidAddress reports whether addr is acceptable as an envelope address,
// by the rules SMTP's MAIL and RCPT apply.
func ValidAddress(addr string) bool { return isASCII(addr) && validAddress(addr) }

// CreateBatch registers a new batch ID for a credential's application, as
// SendGrid's POST /v3/mail/batch does: a batch registered before its
// first message is an announced bulk send. The audit entry names the
// credential. spool.ErrBatchExists if the ID is taken.
func (in *Intake) CreateBatch(cred, id string) (spool.Batch, error) {
	now := in.clock.Now()
	rec := &spool.AuditEntry{Time: now, Actor: "credential:" + cred, Action: "batch create", Selector: "batch=" + id}
	return in.spool.CreateBatch(id, now, rec)
}

// Batch returns a batch the spool knows, or spool.ErrNoBatch.
func (in *Intake) Batch(id string) (spool.Batch, error) { return in.spool.GetBatch(id) }

// ClearAuthAllowed reports whether a client at remote may send a password
// without TLS: from loopback, or with --insecure-auth (as for SMTP AUTH).
func (in *Intake) ClearAuthAllowed(remote netip.Addr) bool {
	return in.loopback(remote) || in.cfg.InsecureAuth
}

// ReadTimeout is the intake's --smtp-timeout: the longest a client may
// take to send a message.
func (in *Intake) ReadTimeout() time.Duration { return in.cfg.ReadTimeout }

// LimitListener counts the connections of l against the intake's
// connection limits (in all, and per client address), shared with SMTP,
// and bounds each connection's lifetime by --max-session-duration. A
// connection over a limit is closed at once.
func (in *Intake) LimitListener(l net.Listener) net.Listener {
	return &limitListener{Listener: l, lim: in.limits}
}

// Reserve charges n bytes to the memory budget of messages being received
// (--max-inflight-bytes), shared with SMTP. It returns the function that
// gives them back, or false when the budget is spent: the client should
// try again later.
func (in *Intake) Reserve(n int64) (release func(), ok bool) {
	if !in.budget.take(n) {
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { in.budget.give(n) }) }, true
}
