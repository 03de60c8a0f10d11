package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

var ErrTooLongLine = errors.New("smtp: too long a line in input stream")

// lineLimitReader reads from the underlying Reader but restricts
// line length of lines in input stream to a certain length.
//
// If line length exceeds the limit - Read returns ErrTooLongLine
type lineLimitReader struct {
	R         io.Reader
	LineLimit int

	curLineLength int
}

func (r *lineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}

	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}

	if r.LineLimit == 0 {
		return n, nil
	}

	for _, chr := range b[:n] {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++

		if r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}

	return n, nil
}

// lineReader reads lines of at most Limit octets, not counting the line
// ending; a Limit of zero means no limit.
//
// A longer line is refused as soon as it is known to be too long: ReadLine
// returns ErrTooLongLine, and the next ReadLine first discards the rest of
// that line up to its LF, without keeping it in memory. The line after it
// is read as usual.
type lineReader struct {
	R     *bufio.Reader
	Limit int

	discard bool // the rest of a line is to be discarded
}

// ReadLine returns the next line without its line ending. Like
// textproto.Reader.ReadLine, it returns a last line without a line ending
// as a line when the read fails after it.
func (r *lineReader) ReadLine() (string, error) {
	for r.discard {
		_, err := r.R.ReadSlice('\n')
		if err == nil {
			r.discard = false
		} else if err != bufio.ErrBufferFull {
			return "", err
		}
	}

	var line []byte
	for {
		if _, err := r.R.Peek(1); err != nil {
			if len(line) > 0 {
				break
			}
			return "", err
		}
		// Only what is buffered, so that an overlong line is refused
		// without waiting for its end.
		b, _ := r.R.Peek(r.R.Buffered())
		end := bytes.IndexByte(b, '\n')
		if end >= 0 {
			b = b[:end+1]
		}
		line = append(line, b...)
		r.R.Discard(len(b))
		if end >= 0 {
			break
		}
		// Limit octets and a CR may still be a line within the limit.
		if r.Limit > 0 && len(line) > r.Limit+1 {
			r.discard = true
			return "", ErrTooLongLine
		}
	}

	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = bytes.TrimSuffix(line[:n-1], []byte("\r"))
	}
	if r.Limit > 0 && len(line) > r.Limit {
		return "", ErrTooLongLine
	}
	return string(line), nil
}
