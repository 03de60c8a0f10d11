package upstream

import "bytes"

// crlfOnly returns body with every bare CR (one not followed by LF) made
// into CRLF, as net/textproto's dot writer already does with a bare LF,
// so that nothing the relay sends can end a line, or the data, early at
// an upstream that takes a lone CR for a line end: "\r.\r\n" would
// otherwise end the data there and let the rest of the body run as a
// second, smuggled transaction. The intake refuses such messages; this is
// for the ones spooled before it did. A body without a bare CR, almost
// every body, comes back uncopied.
func crlfOnly(body []byte) []byte {
	if !HasBareCR(body) {
		return body
	}
	out := make([]byte, 0, len(body)+bytes.Count(body, []byte{'\r'}))
	for i, b := range body {
		out = append(out, b)
		if b == '\r' && (i+1 == len(body) || body[i+1] != '\n') {
			out = append(out, '\n')
		}
	}
	return out
}

// HasBareCR reports whether b has a CR that is not followed by LF. The
// intake refuses such a message (relay/crlf.go); this package rewrites
// one spooled before it did.
func HasBareCR(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return false
		}
		if i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		b = b[i+2:]
	}
}
