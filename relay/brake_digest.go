package relay

import (
	"bytes"
	"hash/maphash"
)

// digest is the content's: Subject and body, nothing else of the header.
// The MIME boundaries the message declares do not count either: mail
// libraries (and the Mail Send API, for text with HTML) draw a random
// one for every message, so that a loop of one multipart message would
// otherwise never send the same body twice.
func (d *detector) digest(subject string, msg []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(subject)
	h.WriteByte(0)
	header, body := splitHeader(msg)
	writeWithout(&h, body, boundaries(header, body))
	return h.Sum64()
}

// splitHeader cuts msg after its header block. A message with no blank
// line is all header if it starts with a header field (a script's alert
// with a Subject and no body: its Date and Message-ID must not make each
// copy new), else all body.
func splitHeader(msg []byte) (header, body []byte) {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2], msg[i+4:]
	}
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+1], msg[i+2:]
	}
	if startsWithField(msg) {
		return msg, nil
	}
	return nil, msg
}

// startsWithField reports whether msg begins with "Name:", a header
// field's name (RFC 5322: printable ASCII but the colon) and its colon.
func startsWithField(msg []byte) bool {
	for i, c := range msg {
		switch {
		case c == ':':
			return i > 0
		case c <= ' ' || c > '~':
			return false
		}
	}
	return false
}

// maxBoundaries bounds how many boundaries digest takes out of a body
// (nested multiparts rarely go three deep).
const maxBoundaries = 8

// boundaries returns the boundary parameters of a multipart message:
// its header's, and if it has one, those of the parts nested in body.
// A message whose header declares none has none worth looking for.
func boundaries(header, body []byte) [][]byte {
	out := appendBoundaries(nil, header)
	if len(out) > 0 {
		out = appendBoundaries(out, body)
	}
	return out
}

// appendBoundaries adds the values of the boundary= parameters in b
// (quoted or not, the name in any case), at most maxBoundaries in all.
func appendBoundaries(out [][]byte, b []byte) [][]byte {
	for len(out) < maxBoundaries {
		i := indexBoundaryParam(b)
		if i < 0 {
			return out
		}
		b = b[i:]
		v := b
		if len(v) > 0 && v[0] == '"' {
			v = v[1:]
			if j := bytes.IndexByte(v, '"'); j >= 0 {
				v = v[:j]
			}
		} else if j := bytes.IndexAny(v, "; \t\r\n"); j >= 0 {
			v = v[:j]
		}
		// RFC 2046: 1 to 70 characters. Anything else is not one.
		if len(v) >= 1 && len(v) <= 70 && bytes.IndexAny(v, "\r\n") < 0 {
			out = append(out, v)
		}
	}
	return out
}

// indexBoundaryParam returns where the value of the first boundary=
// parameter in b starts, or -1.
func indexBoundaryParam(b []byte) int {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte("oundary="))
		j := bytes.Index(b[off:], []byte("OUNDARY="))
		if i < 0 || (j >= 0 && j < i) {
			i = j
		}
		if i < 0 {
			return -1
		}
		at := off + i
		if at > 0 && (b[at-1] == 'b' || b[at-1] == 'B') {
			return at + len("oundary=")
		}
		off = at + len("oundary=")
	}
}

// writeWithout writes b to h without any occurrence of drop's strings.
// next[k] caches where drop[k] next occurs, so each is searched for
// once per occurrence, not once per cut.
func writeWithout(h *maphash.Hash, b []byte, drop [][]byte) {
	if len(drop) == 0 {
		h.Write(b)
		return
	}
	next := make([]int, len(drop))
	for k := range next {
		next[k] = -2 // not searched yet
	}
	pos := 0
	for {
		at, n := -1, 0
		for k, d := range drop {
			if next[k] == -2 || (next[k] >= 0 && next[k] < pos) {
				next[k] = -1
				if i := bytes.Index(b[pos:], d); i >= 0 {
					next[k] = pos + i
				}
			}
			if next[k] >= 0 && (at < 0 || next[k] < at || (next[k] == at && len(d) > n)) {
				at, n = next[k], len(d)
			}
		}
		if at < 0 {
			h.Write(b[pos:])
			return
		}
		h.Write(b[pos:at])
		pos = at + n
	}
}
