package relay

import (
	"bufio"
	"bytes"
	"fmt"
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

// silentAfterDot stands where the upstream should be: it takes a whole
// message and hangs up instead of answering the end-of-data dot.
func silentAfterDot(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 silent\r\n")
				inData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch {
					case inData && line == ".\r\n":
						return // the dot, and no reply
					case inData:
					case strings.HasPrefix(strings.ToUpper(line), "DATA"):
						inData = true
						fmt.Fprintf(c, "354 go on\r\n")
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// An upstream that hangs up after the dot may have the message: the retry
// is planned as usual, and a drop meanwhile says maybe_delivered, not
// dropped (guarantee 3).
func TestUnansweredDotMakesADropUnsure(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond},
		front: func(string) string { return silentAfterDot(t) }})
	id := h.submit("unanswered")
	h.clock.Advance(time.Second)
	if m := h.waitState(id, spool.Deferred); !m.Interrupted {
		t.Fatalf("deferred after an unanswered dot, but not marked interrupted (last error %q)", m.LastError)
	}
	res, err := h.spool.Drop(spool.Selector{IDs: []spool.ID{id}}, spool.Event{Time: h.clock.Now(), Actor: "test"}, false)
	if err != nil || res.Count(spool.MaybeDelivered) != 1 {
		t.Fatalf("drop: %v %v", res.Counts(), err)
	}
}
