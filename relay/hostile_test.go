package relay

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// greetForever stands where the upstream should be and greets every
// connection with "220-" lines until the client goes.
func greetForever(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	flood := bytes.Repeat([]byte("220-on and on\r\n"), 1000)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					if _, err := c.Write(flood); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A reply without end, which anyone on the path can send before STARTTLS,
// defers the message: it is neither lost nor a reason to read forever.
func TestEndlessReplyDefers(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond},
		front: func(string) string { return greetForever(t) }})
	id := h.submit("flooded")
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	if !strings.Contains(m.LastError, "ran over 100 lines") {
		t.Errorf("last error %q", m.LastError)
	}
	if body, err := h.spool.Body(id); err != nil || len(body) == 0 {
		t.Errorf("the deferred message lost its body: %v", err)
	}
}
