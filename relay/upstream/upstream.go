// Package upstream owns the last step of a message's life in the relay:
// handing one spooled message to the upstream named by the --upstream URL and
// saying, for every recipient, what the upstream answered.
//
// Three kinds of upstream exist:
//
//	smtp://[user:pass@]host[:port][?tls=none|opportunistic]  STARTTLS, port 587
//	smtps://[user:pass@]host[:port]                          implicit TLS, port 465
//	file:///dir (or file://./dir, relative)                  one <ID>.eml per message
//
// Invariants a caller may rely on:
//
//   - Deliver returns exactly one Outcome per recipient, in envelope order,
//     and never panics or returns early on an upstream's misbehaviour.
//   - The end-of-data dot is never sent once the context is cancelled: a
//     cancelled delivery is reported as Code 0 "cancelled" and no recipient as
//     delivered. Once the dot has been sent, the message is in the upstream's
//     hands and only its reply can say whether it was taken, so Deliver waits
//     for that reply (bounded by Options.Timeout) even if the context ends,
//     unless Interrupt cuts it; a delivery left without that reply reports
//     Outcome.Unknown.
//   - No reply is read without bound: one longer than 100 lines or 64 KiB
//     (go-smtp's own limit on a line is 2,000 bytes) fails the attempt with
//     a temporary error and closes the connection.
//   - Credentials leave the process only over TLS, except with tls=none,
//     which exists for loopback tests.
//   - Deliver holds no goroutine after it returns. An SMTP session whose
//     transaction ended cleanly (the upstream answered the end-of-data dot)
//     is kept for the next Deliver, at most 2 s idle, until CloseIdle; a
//     session that was cancelled, failed on I/O or was left mid-transaction
//     is closed, never reused. A kept session found closed by the upstream
//     is replaced by a new connection before any of the message is sent.
//   - A Set builds one Transport per URL and shares it (and its kept
//     sessions) between the routes that name that URL.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Envelope is what the upstream needs to know about a message besides its bytes.
type Envelope struct {
	ID   string   // the spool's message ID (e.g. "0c5v3k2s8f9ga"), used for file names and logs
	From string   // may be "" (null reverse-path)
	To   []string // recipients still to deliver (never empty)
	// BeforeDot, when set, is called just before the end-of-data dot
	// (for the file transport: the rename). An error stops the attempt
	// there, the message not sent, as a cancellation would: it is how a
	// drop on another node of a shared spool wins over a transfer that
	// has not yet sent its dot.
	BeforeDot func() error
}

// Outcome is the upstream's answer for one recipient.
type Outcome struct {
	Rcpt string
	// Code is the SMTP reply code. It is 0, always meaning "try again
	// later", when no reply was had (network or TLS error, cancelled) or when
	// the relay itself stopped: STARTTLS required but not offered,
	// credentials refused by the upstream.
	Code int
	// Message is the upstream's reply text, enhanced code included (e.g.
	// "5.1.1 no such user"), or the error text. It never holds a password.
	Message string
	// Unknown is set, with Code 0, when the end-of-data dot was sent but
	// no reply was had (timeout, broken connection, Interrupt): the
	// upstream may have taken the message.
	Unknown bool
}

// Delivered reports whether the upstream took responsibility for the recipient.
func (o Outcome) Delivered() bool { return o.Code/100 == 2 }

// Permanent reports whether the upstream refused the recipient for good.
func (o Outcome) Permanent() bool { return o.Code/100 == 5 }

// Transport delivers messages to one upstream. It is safe for concurrent use;
// concurrent Delivers use separate connections.
type Transport interface {
	// Deliver sends body to every recipient of env and returns exactly one Outcome per
	// recipient, in env.To order. A failure that concerns the whole transaction (dial, greeting,
	// STARTTLS, AUTH, MAIL FROM, DATA) is copied to every recipient not already refused at RCPT.
	// If ctx is cancelled before the end-of-data dot is sent, the transfer is aborted (the connection
	// is closed without sending the final "." line) and no recipient is reported delivered;
	// Code 0 with message "cancelled". Deliver must also return promptly if ctx is cancelled while
	// the upstream stalls (e.g. never answers DATA): watch ctx and close the connection.
	// Once the dot is sent, cancellation no longer cuts the connection: Deliver waits, at most
	// Options.Timeout, for the reply, because only the reply says whether the upstream took the
	// message, and a message it took must not be reported as undelivered (only an Interrupter's
	// Interrupt cuts it then, and the outcome is Unknown).
	Deliver(ctx context.Context, env Envelope, body []byte) []Outcome
	// String describes the upstream without secrets (no password), for logs and `relayctl status`.
	String() string
}

// IdleCloser is implemented by transports that keep connections between
// deliveries. CloseIdle closes those not in use; a later Deliver opens new ones.
type IdleCloser interface {
	CloseIdle()
}

// Interrupter is implemented by transports whose deliveries may outlast
// their context: an SMTP delivery past its end-of-data dot waits for the
// reply, up to Options.Timeout. Interrupt cuts every delivery in progress
// at once, wherever it stands, and is meant for a shutdown deadline: one
// cut after the dot reports Outcome.Unknown. Cancel the deliveries'
// contexts first, so that none reaches the dot afterwards.
type Interrupter interface {
	Interrupt()
}

// Options tune SMTP upstreams; the file upstream ignores them.
type Options struct {
	Hostname    string        // our EHLO name; "" = "localhost"
	TLSConfig   *tls.Config   // base TLS config (tests put their RootCAs here); ServerName filled from the URL host when empty
	DialTimeout time.Duration // 0 = 30s
	Timeout     time.Duration // per-command I/O timeout, the reply to the end-of-data dot included; 0 = 5m
}

// msgCancelled is the Message of every outcome of a delivery that was
// cancelled before the end-of-data dot; callers may compare against it.
const msgCancelled = "cancelled"

// New returns the Transport for rawURL. Errors never repeat the URL, which
// may hold a password.
func New(rawURL string, opts Options) (Transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("upstream URL: %w", err)
	}
	switch u.Scheme {
	case "smtp", "smtps":
		return newSMTP(u, opts)
	case "file":
		return newFile(u)
	case "":
		return nil, errors.New("upstream URL: missing scheme (want smtp://, smtps:// or file://)")
	default:
		return nil, fmt.Errorf("upstream URL: unknown scheme %q (want smtp, smtps or file)", u.Scheme)
	}
}

// outcomes returns one undecided Outcome (Code 0, no message) per recipient.
func outcomes(to []string) []Outcome {
	out := make([]Outcome, len(to))
	for i, rcpt := range to {
		out[i].Rcpt = rcpt
	}
	return out
}

// settle gives every recipient that has no answer yet the transaction's
// answer, so that a recipient refused at RCPT keeps its own reply.
func settle(out []Outcome, code int, msg string) []Outcome {
	for i := range out {
		if out[i].Code == 0 && out[i].Message == "" {
			out[i].Code, out[i].Message = code, msg
		}
	}
	return out
}
