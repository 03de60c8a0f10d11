package relay

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdrelay/relay/spool"
)

// maxHeaderScan bounds how much of a message is read for its subject and
// Message-ID: they are for display and search, not worth reading 25 MiB.
const maxHeaderScan = 64 << 10

type headerInfo struct {
	subject   string
	messageID string
	main      []spool.Header
}

// mainHeaders are kept for support's view after the body is gone.
var mainHeaders = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID"}

// parseHeader extracts what support staff look for. A malformed header is
// not a reason to refuse mail: whatever parses is kept.
func parseHeader(body []byte) headerInfo {
	if len(body) > maxHeaderScan {
		body = body[:maxHeaderScan]
	}
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
	dec := mime.WordDecoder{}
	subject := h.Get("Subject")
	if d, err := dec.DecodeHeader(subject); err == nil {
		subject = d
	}
	info := headerInfo{subject: clip(subject, 998), messageID: clip(strings.TrimSpace(h.Get("Message-Id")), 998)}
	for _, name := range mainHeaders {
		for _, v := range h.Values(name) {
			if d, err := dec.DecodeHeader(v); err == nil {
				v = d
			}
			info.main = append(info.main, spool.Header{Name: name, Value: clip(v, 512)})
		}
	}
	return info
}

// clip makes a header value safe to show on a terminal: control
// characters (a decoded subject may carry escape sequences) become spaces,
// invalid UTF-8 is replaced, and it is cut to n bytes on a rune boundary.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// received is the trace header RFC 5321 section 4.4 asks every relay to
// add, with the protocol keyword of RFC 3848 (ESMTPSA: TLS and AUTH).
func (in *Intake) received(s *session, now time.Time) []byte {
	proto := "ESMTP"
	if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		proto += "S"
	}
	if s.cred != nil {
		proto += "A"
	}
	helo := strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s.conn.Hostname())
	if helo == "" {
		helo = "unknown"
	}
	ip := "unknown"
	if s.remote.Is6() {
		ip = "IPv6:" + s.remote.String()
	} else if s.remote.IsValid() {
		ip = s.remote.String()
	}
	return []byte("Received: from " + clip(helo, 255) + " ([" + ip + "])\r\n" +
		"\tby " + in.cfg.Hostname + " (relay) with " + proto + ";\r\n" +
		"\t" + now.UTC().Format(time.RFC1123Z) + "\r\n")
}

// headerFrom returns the addresses of the From: header, or none if it is
// missing or does not parse.
func headerFrom(body []byte) []string {
	if len(body) > maxHeaderScan {
		body = body[:maxHeaderScan]
	}
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
	list, err := mail.ParseAddressList(h.Get("From"))
	if err != nil {
		return nil
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}
