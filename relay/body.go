package relay

import (
	"errors"
	"io"
	"os"

	"github.com/emersion/go-smtp"
)

// A message arrives in chunks: most messages are small and fit the first;
// a big one grows 1 MiB at a time rather than by doubling (as a
// bytes.Buffer does), so that a 20 MiB message holds about 21 MiB while it
// arrives, not 32 MiB and, while the buffer is copied, 48.
const (
	firstChunk = 16 << 10
	maxChunk   = 1 << 20
)

// errBusy answers a message that would overspend the intake's budget for
// messages being received (RFC 3463 4.3.1, "mail system full"). go-smtp
// reads the rest of the message and discards it, so the session goes on.
var errBusy = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1},
	Message: "Too much mail arriving at once, try again later"}

// inbound is a message being received: the chunks it fills, each charged
// to the intake's budget before it is allocated. release gives the charge
// back; the message must not be used after it.
type inbound struct {
	budget  *budget
	chunks  [][]byte
	charged int64
}

// readFrom appends r's bytes up to its end. A refusal from the budget is
// errBusy; any other error is r's.
func (m *inbound) readFrom(r io.Reader) error {
	for {
		c, err := m.room()
		if err != nil {
			return err
		}
		n, err := r.Read(c[len(c):cap(c)])
		m.chunks[len(m.chunks)-1] = c[:len(c)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// write appends p, for what the relay adds itself (the Received header).
func (m *inbound) write(p []byte) error {
	for len(p) > 0 {
		c, err := m.room()
		if err != nil {
			return err
		}
		n := copy(c[len(c):cap(c)], p)
		m.chunks[len(m.chunks)-1], p = c[:len(c)+n], p[n:]
	}
	return nil
}

// room returns the last chunk, a new one if that is full.
func (m *inbound) room() ([]byte, error) {
	if n := len(m.chunks); n > 0 && len(m.chunks[n-1]) < cap(m.chunks[n-1]) {
		return m.chunks[n-1], nil
	}
	if err := m.grow(); err != nil {
		return nil, err
	}
	return m.chunks[len(m.chunks)-1], nil
}

func (m *inbound) grow() error {
	size := firstChunk
	if n := len(m.chunks); n > 0 {
		size = min(2*cap(m.chunks[n-1]), maxChunk)
	}
	if !m.budget.take(int64(size)) {
		return errBusy
	}
	m.charged += int64(size)
	m.chunks = append(m.chunks, make([]byte, 0, size))
	return nil
}

// bytes returns the message in one piece, as the spool takes it. Joining
// chunks is one more copy, charged like the rest, after which the chunks
// are let go.
func (m *inbound) bytes() ([]byte, error) {
	if len(m.chunks) == 1 {
		return m.chunks[0], nil
	}
	n := 0
	for _, c := range m.chunks {
		n += len(c)
	}
	if !m.budget.take(int64(n)) {
		return nil, errBusy
	}
	out := make([]byte, 0, n)
	for _, c := range m.chunks {
		out = append(out, c...)
	}
	m.budget.give(m.charged)
	m.chunks, m.charged = [][]byte{out}, int64(n)
	return out, nil
}

// keep makes b, a copy of the message made after it arrived, what the
// message holds: b is charged, and the buffers it replaces let go.
func (m *inbound) keep(b []byte) error {
	if !m.budget.take(int64(cap(b))) {
		return errBusy
	}
	m.budget.give(m.charged)
	m.chunks, m.charged = [][]byte{b}, int64(cap(b))
	return nil
}

// release gives back what the message holds.
func (m *inbound) release() {
	m.budget.give(m.charged)
	m.charged, m.chunks = 0, nil
}

// receive reads a message into body, after the Received header that the
// relay puts first, and returns it in one piece with that header's length.
func (s *session) receive(body *inbound, r io.Reader) (msg []byte, trace int, err error) {
	received := s.in.received(s, s.in.clock.Now())
	if err := body.write(received); err != nil {
		return nil, 0, err
	}
	if err := body.readFrom(r); err != nil {
		return nil, 0, s.readError(err)
	}
	msg, err = body.bytes()
	return msg, len(received), err
}

// readError is the reply to a message that could not be read whole.
func (s *session) readError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se // too large, or over the budget
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case errors.Is(err, os.ErrDeadlineExceeded):
		return s.hangUp(errDataTimeout)
	}
	return errSpool
}
