package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

type EnhancedCode [3]int

// SMTPError specifies the error code, enhanced error code (if any) and
// message returned by the server.
type SMTPError struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// NoEnhancedCode is used to indicate that enhanced error code should not be
// included in response.
//
// Note that RFC 2034 requires an enhanced code to be included in all 2xx, 4xx
// and 5xx responses. This constant is exported for use by extensions, you
// should probably use EnhancedCodeNotSet instead.
var NoEnhancedCode = EnhancedCode{-1, -1, -1}

// EnhancedCodeNotSet is a nil value of EnhancedCode field in SMTPError, used
// to indicate that backend failed to provide enhanced status code. X.0.0 will
// be used (X is derived from error code).
var EnhancedCodeNotSet = EnhancedCode{0, 0, 0}

func (err *SMTPError) Error() string {
	s := fmt.Sprintf("SMTP error %03d", err.Code)
	if err.Message != "" {
		s += ": " + err.Message
	}
	return s
}

func (err *SMTPError) Temporary() bool {
	return err.Code/100 == 4
}

var ErrDataTooLarge = &SMTPError{
	Code:         552,
	EnhancedCode: EnhancedCode{5, 3, 4},
	Message:      "Maximum message size exceeded",
}

type dataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining

	lineLimit int  // Maximum line length, without CRLF; 0 for none
	lineLen   int  // Length of the current line so far, without LF
	cr        bool // The last byte read was CR
}

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		r:         c.text.R,
		lineLimit: c.server.MaxLineLength,
	}

	if c.server.MaxMessageBytes > 0 {
		dr.limited = true
		dr.n = int64(c.server.MaxMessageBytes)
	}

	return dr
}

func (r *dataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}

	// Code below is taken from net/textproto, modified to deliver every
	// byte as sent except a dot stuffed at the start of a line: CRLF is not
	// rewritten to LF, and only CRLF ends a line, so only CRLF.CRLF ends
	// the data.

	// Run data through a simple state machine to
	// elide leading dots and detect End-of-Data (<CR><LF>.<CR><LF>) line.
	const (
		stateBeginLine = iota // beginning of line; initial state; must be zero
		stateDot              // read . at beginning of line
		stateDotCR            // read .\r at beginning of line
		stateCR               // read \r (possibly at end of line)
		stateData             // reading data in middle of line
		stateEOF              // reached .\r\n end marker line
	)
	for n < len(b) && r.state != stateEOF {
		if r.state == stateData {
			if k := r.copyRun(b[n:]); k > 0 {
				n += k
				continue
			}
		}
		// Checked before reading on, so that no byte is taken from the
		// state machine: once the limit is lifted, the rest of the data
		// can be read to its end.
		if r.lineTooLong() {
			err = ErrTooLongLine
			break
		}
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		r.countLine(c)
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			// Not the end: only the dot was stuffing. The CR after it
			// is delivered, and c is read again as the byte after a CR.
			r.unreadByte()
			c = '\r'
			r.state = stateCR
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			if c != '\r' { // this CR may be the one before LF
				r.state = stateData
			}
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}

// copyRun copies in one go the buffered bytes up to the next CR or LF:
// in mid-line they change nothing but the line's length, and reading them
// one at a time through the state machine below was a quarter of the
// intake's CPU for a 10 KiB message. It takes no more than the line limit
// lets through, so that the state machine reports an overlong line at
// the same byte as before. It returns 0 when nothing is buffered.
func (r *dataReader) copyRun(b []byte) int {
	k := r.r.Buffered()
	if k > len(b) {
		k = len(b)
	}
	if r.lineLimit > 0 {
		// The check before each byte fails once lineLen > lineLimit
		// (in mid-line the last byte is never a CR).
		if room := r.lineLimit - r.lineLen + 1; k > room {
			k = room
		}
	}
	if k <= 0 {
		return 0
	}
	buf, _ := r.r.Peek(k)
	if i := bytes.IndexByte(buf, '\r'); i >= 0 {
		buf = buf[:i]
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	}
	k = copy(b, buf)
	r.r.Discard(k)
	r.lineLen += k
	return k
}

// unreadByte puts back the byte just read, which follows a CR and is not
// LF, so that it is read again and counted once.
func (r *dataReader) unreadByte() {
	r.r.UnreadByte()
	r.lineLen--
	r.cr = true
}

func (r *dataReader) countLine(c byte) {
	if c == '\n' {
		r.lineLen = 0
	} else {
		r.lineLen++
	}
	r.cr = c == '\r'
}

// lineTooLong reports whether the current line is already longer than the
// limit. A CR at its end is not counted yet: it may begin the CRLF.
func (r *dataReader) lineTooLong() bool {
	n := r.lineLen
	if r.cr {
		n--
	}
	return r.lineLimit > 0 && n > r.lineLimit
}
