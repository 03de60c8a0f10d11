package relay

import (
	"bufio"
	"bytes"
	"mime"
	"net/netip"
	"net/textproto"
	"slices"
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
	return in.TraceHeader(helo, s.remote, proto, now)
}

// TraceHeader is relay's Received header for a message from a client at
// remote that called itself helo, over proto (ESMTPSA, HTTP, ...).
func (in *Intake) TraceHeader(helo string, remote netip.Addr, proto string, now time.Time) []byte {
	if helo == "" {
		helo = "unknown"
	}
	ip := "unknown"
	if remote.Is6() {
		ip = "IPv6:" + remote.String()
	} else if remote.IsValid() {
		ip = remote.String()
	}
	return []byte("Received: from " + clip(helo, 255) + " ([" + ip + "])\r\n" +
		"\tby " + in.cfg.Hostname + " (relay) with " + proto + ";\r\n" +
		"\t" + now.UTC().Format(time.RFC1123Z) + "\r\n")
}

// fromFields returns the values of msg's From: fields, as many as any
// reader of the message may find: the upstream and the receivers after it
// do not all split lines alike, and a From: that only some of them see
// would slip past a check that reads the header one way. So the header is
// read twice, with lines ending at LF (CRLF or bare, as net/textproto and
// most MTAs read them) and also at a bare CR (as some older ones do), and
// each time:
//   - the whole header is read, up to its first empty line, however long;
//   - a line that is not a field (no colon) is skipped, not taken for the
//     end of the header, since some readers go on past it;
//   - a field name may be followed by spaces before its colon (RFC 5322's
//     obsolete syntax, "From :"), and is matched without regard to case;
//   - folded lines are unfolded into the field's value.
//
// n is the most From: fields either reading found; values holds those of
// both readings.
func fromFields(msg []byte) (n int, values []string) {
	lf := fromFieldsSplit(msg, false)
	cr := fromFieldsSplit(msg, true)
	return max(len(lf), len(cr)), append(lf, cr...)
}

// fromFieldsSplit reads msg's header with lines ending at LF, and also at a
// bare CR if crEnds.
func fromFieldsSplit(msg []byte, crEnds bool) []string {
	var values [][]byte
	inFrom := false
	for len(msg) > 0 {
		var line []byte
		line, msg = nextLine(msg, crEnds)
		switch {
		case len(line) == 0:
			msg = nil // the end of the header
		case line[0] == ' ' || line[0] == '\t':
			if inFrom {
				values[len(values)-1] = append(values[len(values)-1], line...)
			}
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			inFrom = ok && bytes.EqualFold(bytes.TrimRight(name, " \t"), []byte("From"))
			if inFrom {
				// Clipped, so that unfolding copies instead of
				// writing over the message.
				values = append(values, slices.Clip(value))
			}
		}
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// nextLine splits off msg's first line, without its end: LF or CRLF, or a
// bare CR if crEnds. It looks no further than that end, so reading a whole
// header costs its length, whichever ends its lines have.
func nextLine(msg []byte, crEnds bool) (line, rest []byte) {
	ends := "\n"
	if crEnds {
		ends = "\r\n"
	}
	i := bytes.IndexAny(msg, ends)
	if i < 0 {
		return msg, nil
	}
	line, rest = msg[:i], msg[i+1:]
	switch {
	case msg[i] == '\r' && len(rest) > 0 && rest[0] == '\n':
		rest = rest[1:]
	case msg[i] == '\n' && i > 0 && msg[i-1] == '\r':
		line = line[:i-1]
	}
	return line, rest
}
