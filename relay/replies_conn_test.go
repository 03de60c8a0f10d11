package relay

import (
	"bufio"
	"io"
	"net"
	"testing"
)

// serveOne accepts one connection through replyBatchListener and runs fn on it.
func serveOne(t *testing.T, fn func(c net.Conn)) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	bl := replyBatchListener{l}
	go func() {
		c, err := bl.Accept()
		if err != nil {
			return
		}
		fn(c)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A reply written line by line reaches the client in one piece when the
// server goes back to reading.
func TestRepliesGoOutWholeBeforeTheNextRead(t *testing.T) {
	c := serveOne(t, func(c net.Conn) {
		defer c.Close()
		for _, line := range []string{"250-first\r\n", "250-second\r\n", "250 last\r\n"} {
			c.Write([]byte(line))
		}
		r := bufio.NewReader(c)
		if cmd, _ := r.ReadString('\n'); cmd == "QUIT\r\n" {
			c.Write([]byte("221 bye\r\n"))
		}
	})
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "250-first\r\n250-second\r\n250 last\r\n" {
		t.Fatalf("first read: %q %v, want the whole reply", buf[:n], err)
	}
	c.Write([]byte("QUIT\r\n"))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "221 bye\r\n" {
		t.Fatalf("after QUIT: %q %v, want the 221 that Close sent", rest, err)
	}
}
