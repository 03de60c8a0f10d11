package upstream

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// floodCap is where a flooding upstream gives up: an unbounded client reads
// it all (and, line by line, copies it over and over), a bounded one stops
// long before.
const floodCap = 64 << 20

// floodingUpstream answers one session by hand and, at stage (greeting,
// ehlo, starttls or dot), sends flood over and over instead of a reply,
// until the client stops reading or floodCap bytes are sent. It reports how
// many bytes it got into the connection.
func floodingUpstream(t *testing.T, stage string, flood []byte) (addr string, written <-chan int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	out := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		out <- converse(c, stage, flood)
	}()
	return l.Addr().String(), out
}

func converse(c net.Conn, stage string, flood []byte) int {
	if stage == "greeting" {
		return flooding(c, flood)
	}
	c.Write([]byte("220 hostile ESMTP\r\n"))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0
		}
		switch cmd := strings.ToUpper(line); {
		case strings.HasPrefix(cmd, "EHLO") && stage == "ehlo", strings.HasPrefix(cmd, "STARTTLS"):
			return flooding(c, flood)
		case strings.HasPrefix(cmd, "EHLO"):
			c.Write([]byte("250-hostile\r\n250 STARTTLS\r\n"))
		case strings.HasPrefix(cmd, "DATA"):
			c.Write([]byte("354 go ahead\r\n"))
			for line != ".\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					return 0
				}
			}
			return flooding(c, flood)
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}

func flooding(c net.Conn, flood []byte) int {
	chunk := bytes.Repeat(flood, 32<<10/len(flood)+1)
	n := 0
	for n < floodCap {
		k, err := c.Write(chunk)
		n += k
		if err != nil {
			break
		}
	}
	return n
}

// An upstream that never ends a reply fails the attempt with a temporary
// error after a bounded read, wherever it does so; after the dot, the
// outcome is unknown.
func TestEndlessReplyIsCut(t *testing.T) {
	lines := []byte("250-flooding\r\n")
	oneLine := []byte("250 ")
	for _, tc := range []struct {
		stage, url string
		flood      []byte
		msg        string
	}{
		{"greeting", "smtp://ADDR?tls=none", []byte("220-flooding\r\n"), "ran over 100 lines"},
		{"ehlo", "smtp://ADDR?tls=none", lines, "ran over 100 lines"},
		{"ehlo", "smtp://ADDR?tls=none", oneLine, "too long"},
		{"starttls", "smtp://ADDR", []byte("220-flooding\r\n"), "ran over 100 lines"},
		{"starttls", "smtp://ADDR", oneLine, "ran over 65536 bytes"},
		{"dot", "smtp://ADDR?tls=none", lines, "ran over 100 lines"},
	} {
		t.Run(tc.stage+"/"+tc.msg, func(t *testing.T) {
			addr, written := floodingUpstream(t, tc.stage, tc.flood)
			tr, err := New(strings.Replace(tc.url, "ADDR", addr, 1), Options{Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan []Outcome, 1)
			go func() { done <- tr.Deliver(context.Background(), testEnv, testBody) }()
			var out []Outcome
			select {
			case out = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Deliver still reading the reply after 10s")
			}
			wantAll(t, out, 0, tc.msg)
			for _, o := range out {
				if o.Unknown != (tc.stage == "dot") {
					t.Errorf("%s: Unknown %v after a flood at %s", o.Rcpt, o.Unknown, tc.stage)
				}
			}
			// What the upstream got into the connection bounds what we
			// read: a bounded reply plus the socket buffers.
			if n := <-written; n >= floodCap/4 {
				t.Errorf("the upstream sent %d bytes before the client stopped reading", n)
			} else {
				t.Logf("the upstream got %d bytes out before the client closed", n)
			}
		})
	}
}
