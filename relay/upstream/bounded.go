package upstream

import (
	"bytes"
	"fmt"
	"net"
)

// Bounds on what one upstream reply may make us read. go-smtp caps the
// length of a line (2,000 bytes) but not the number of lines, and
// net/textproto joins the lines of a multi-line reply by copying the text
// so far at every line: an upstream, or anyone on the path before STARTTLS,
// streaming "250-" lines grew relayd to 2 GiB in seconds. The largest
// honest replies, to EHLO, run to about 20 lines.
const (
	maxReplyLines = 100
	maxReplyBytes = 64 << 10
)

// boundedConn fails every read once the upstream has sent more than one
// reply may hold since our last write: without pipelining, what arrives
// between two commands is one reply. The failure sticks: a session that
// went that far out of bounds is closed, never reused.
type boundedConn struct {
	net.Conn
	bytes, lines int
	err          error
}

func bounded(conn net.Conn) *boundedConn { return &boundedConn{Conn: conn} }

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	c.bytes += n
	c.lines += bytes.Count(p[:n], []byte("\n"))
	switch {
	case c.lines > maxReplyLines:
		c.err = fmt.Errorf("the upstream's reply ran over %d lines", maxReplyLines)
	case c.bytes > maxReplyBytes:
		c.err = fmt.Errorf("the upstream's reply ran over %d bytes", maxReplyBytes)
	default:
		return n, err
	}
	return 0, c.err
}

func (c *boundedConn) Write(p []byte) (int, error) {
	c.bytes, c.lines = 0, 0
	return c.Conn.Write(p)
}
