package relay

import (
	"net"
	"sync"
	"time"
)

// go-smtp writes every line of a reply with its own write (textproto's
// PrintfLine flushes each line): an EHLO reply of seven lines costs seven
// system calls and can wake the client seven times. The intake's
// connections hold what the server writes until it next reads, the moment
// the client can only be waiting for it, and send it then in one write.
// That is exactly when a reply is complete, so nothing is delayed: the
// server reads after every reply (the next command, the message, or a TLS
// handshake message), and Close sends what is left.

// maxHeld bounds what a connection holds back; more is written at once.
const maxHeld = 32 << 10

// replyBatchListener wraps every accepted connection in a replyBatchConn.
type replyBatchListener struct{ net.Listener }

func (l replyBatchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &replyBatchConn{Conn: c}, nil
}

// replyBatchConn holds writes until the next Read or Close.
type replyBatchConn struct {
	net.Conn
	mu   sync.Mutex // Close may come from another goroutine (a revoked login)
	held []byte
}

func (c *replyBatchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held)+len(p) > maxHeld {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	return len(p), nil
}

// Read sends what is held first: the client may be waiting for it.
func (c *replyBatchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Close sends what is held (a last 221 or 421), briefly: a client that
// does not read gets no more of our time. While the session's own
// goroutine is writing, Close does not wait for it: closing is what ends
// that write, as it would without this wrapper.
func (c *replyBatchConn) Close() error {
	if c.mu.TryLock() {
		if len(c.held) > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
			c.flushLocked()
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// closeFlushTimeout bounds the last write of Close.
const closeFlushTimeout = time.Second

func (c *replyBatchConn) flushLocked() error {
	if len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	return err
}
