package main

import (
	"fmt"
	"strconv"
	"time"
)

// message is one worker's message, built once: only its sequence number
// changes from one send to the next, written in place so that sending costs
// the generator no allocation and leaves the CPU to the server measured.
type message struct {
	buf []byte // headers and body, CRLF lines, dot-stuffed, without the final dot
	seq int    // offsets of the sequence number (seqWidth digits) in buf:
	mid int    // in the Subject and in the Message-ID
}

const seqWidth = 12

func newMessage(o options, worker int) *message {
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: relayload %d #", o.from, o.to, worker)
	seq := len(head)
	head += fmt.Sprintf("%0*d\r\nMessage-ID: <%d.%d.", seqWidth, 0, time.Now().UnixNano(), worker)
	mid := len(head)
	head += fmt.Sprintf("%0*d@relayload>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
		seqWidth, 0, time.Now().Format(time.RFC1123Z))
	buf := []byte(head)
	const line = "The quick brown fox jumps over the lazy dog; relayload fills to --size.\r\n"
	for len(buf)+len(line) <= o.size {
		buf = append(buf, line...)
	}
	for len(buf) < o.size-2 {
		buf = append(buf, 'x')
	}
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, "\r\n"...)
	}
	return &message{buf: buf, seq: seq, mid: mid}
}

func (m *message) bytes(n int64) []byte {
	s := strconv.FormatInt(n, 10)
	for _, off := range []int{m.seq, m.mid} {
		digits := m.buf[off : off+seqWidth]
		for i := range digits {
			digits[i] = '0'
		}
		copy(digits[seqWidth-len(s):], s)
	}
	return m.buf
}
