package smtpapi

import (
	"bytes"
	"strings"
)

// field is one of our header fields: where it sits in the message (with
// its continuation lines and line ending) and its unfolded value.
type field struct {
	name       string // lower case
	start, end int
	value      string
	buf        []byte // the value while lines are added
}

// findFields walks the header section (up to the first empty line, or the
// whole message if there is none) and returns our fields in order. Lines
// may end in CRLF or a bare LF: the intake accepts both.
func findFields(msg []byte) []field {
	var out []field
	cur := -1 // index in out of the field whose continuation lines may follow
	for pos := 0; pos < len(msg); {
		end := bytes.IndexByte(msg[pos:], '\n')
		if end < 0 {
			end = len(msg)
		} else {
			end += pos + 1
		}
		line := msg[pos:end]
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			break // the end of the header section
		}
		if content[0] == ' ' || content[0] == '\t' {
			if cur >= 0 {
				out[cur].buf = append(out[cur].buf, content...) // unfolding drops only the line break
				out[cur].end = end
			}
			pos = end
			continue
		}
		cur = -1
		if colon := bytes.IndexByte(content, ':'); colon > 0 {
			name := strings.ToLower(string(bytes.TrimRight(content[:colon], " \t")))
			switch name {
			case headerSMTPAPI, headerRelayBat, headerRelaySend:
				out = append(out, field{name: name, start: pos, end: end, buf: append([]byte(nil), content[colon+1:]...)})
				cur = len(out) - 1
			}
		}
		pos = end
	}
	for i := range out {
		out[i].value, out[i].buf = strings.TrimSpace(string(out[i].buf)), nil
	}
	return out
}

// strip returns msg without the given fields, in a new slice.
func strip(msg []byte, fields []field) []byte {
	n := len(msg)
	for _, f := range fields {
		n -= f.end - f.start
	}
	out := make([]byte, 0, n)
	pos := 0
	for _, f := range fields {
		out = append(out, msg[pos:f.start]...)
		pos = f.end
	}
	return append(out, msg[pos:]...)
}
