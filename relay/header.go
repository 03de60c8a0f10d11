package relay

import (
	"bufio"
	"bytes"
	"mime"
	"net/textproto"
	"strings"
	"time"
)

// maxHeaderScan bounds how much of a message is read for its subject and
// Message-ID: they are for display and search, not worth reading 25 MiB.
const maxHeaderScan = 64 << 10

type headerInfo struct {
	subject   string
	messageID string
}

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
	return headerInfo{subject: clip(subject, 998), messageID: clip(strings.TrimSpace(h.Get("Message-Id")), 998)}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
	return []byte("Received: from " + clip(helo, 255) + " ([" + s.remote.String() + "])\r\n" +
		"\tby " + in.cfg.Hostname + " (relay) with " + proto + ";\r\n" +
		"\t" + now.UTC().Format(time.RFC1123Z) + "\r\n")
}
