package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/holdrelay/relay/spool"
)

// maxReturnedHeader bounds the original header a DSN returns: a header
// that large is spam or an attack, and the DSN must not grow with it.
const maxReturnedHeader = 64 << 10

// dsnInfo is what a delivery status notification reports.
type dsnInfo struct {
	hostname string // Reporting-MTA
	msg      spool.Message
	failed   []spool.Recipient // the recipients that failed, with their replies
	body     []byte            // the failed message, for its header
	now      time.Time
}

// buildDSN writes an RFC 3464 report: a multipart/report of a text part
// for people, a message/delivery-status part for programs, and the
// original header (text/rfc822-headers, RFC 6522), never the original
// body. It is From MAILER-DAEMON at the sender's own domain, so that the
// domain's DKIM key signs it and it reaches the mailbox it reports to.
func buildDSN(d dsnInfo) (header spool.Incoming, body []byte) {
	boundary := randomToken()
	domain := domainOf(d.msg.From)
	subject := "Undelivered Mail Returned to Sender"
	msgID := fmt.Sprintf("<dsn.%s.%s@%s>", d.msg.ID, randomToken()[:8], d.hostname)
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", domain)
	w("To: <%s>", d.msg.From)
	w("Subject: %s", subject)
	w("Date: %s", d.now.Format(time.RFC1123Z))
	w("Message-ID: %s", msgID)
	w("Auto-Submitted: auto-replied") // RFC 3834: no auto-reply to this
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("This is the mail relay at %s.", d.hostname)
	w("")
	w("Your message %s could not be delivered to the recipients below.", orNone(d.msg.MessageID))
	w("The upstream mail server's answer follows each recipient.")
	w("")
	for _, r := range d.failed {
		w("<%s>: %s", r.Addr, oneLine(r.Reply))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", d.hostname)
	w("X-Relay-Message-ID: %s", d.msg.ID)
	w("Arrival-Date: %s", d.msg.Received.Format(time.RFC1123Z))
	for _, r := range d.failed {
		w("")
		w("Final-Recipient: rfc822; %s", r.Addr)
		w("Action: failed")
		w("Status: %s", dsnStatus(r.Reply))
		w("Diagnostic-Code: %s", diagnostic(r.Reply))
		w("Last-Attempt-Date: %s", d.now.Format(time.RFC1123Z))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(originalHeader(d.body))
	w("--%s--", boundary)
	in := spool.Incoming{
		Credential: d.msg.Credential,
		To:         []string{d.msg.From},
		Subject:    subject,
		MessageID:  msgID,
		Headers: []spool.Header{
			{Name: "From", Value: "Mail Delivery System <MAILER-DAEMON@" + domain + ">"},
			{Name: "To", Value: "<" + d.msg.From + ">"},
			{Name: "Subject", Value: subject},
		},
	}
	return in, b.Bytes()
}

// originalHeader is the failed message's header section with CRLF line
// ends, cut at maxReturnedHeader on a line boundary.
func originalHeader(msg []byte) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	} else {
		end += 2
	}
	h := msg[:end]
	if len(h) > maxReturnedHeader {
		h = h[:bytes.LastIndex(h[:maxReturnedHeader], []byte("\r\n"))+2]
	}
	if len(h) > 0 && !bytes.HasSuffix(h, []byte("\r\n")) {
		h = append(h[:len(h):len(h)], "\r\n"...)
	}
	return h
}

var (
	replyCode    = regexp.MustCompile(`^([245])\d\d[ -]`)
	enhancedCode = regexp.MustCompile(`^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b`)
)

// dsnStatus is the Status field: the reply's enhanced status code, else
// one made from its class: 5.0.0, or 4.0.0 for a temporary failure that
// outlived the retries (RFC 3464 §2.3.4 allows a failed action with a
// persistent transient status).
func dsnStatus(reply string) string {
	if m := enhancedCode.FindStringSubmatch(reply); m != nil {
		return m[1]
	}
	if strings.HasPrefix(reply, "5") && replyCode.MatchString(reply) {
		return "5.0.0"
	}
	return "4.0.0"
}

// diagnostic is the Diagnostic-Code field: "smtp; " and the upstream's
// reply when it gave one; a failure with no reply (the upstream could
// not be reached) is relay's own words.
func diagnostic(reply string) string {
	if replyCode.MatchString(reply) {
		return "smtp; " + oneLine(reply)
	}
	return "X-Relay; " + oneLine(reply)
}

// oneLine keeps a reply on one header line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "no reply"
	}
	return clip(s, 900)
}

func orNone(s string) string {
	if s == "" {
		return "(without a Message-ID)"
	}
	return s
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
