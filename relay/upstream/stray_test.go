package upstream

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
)

// After the first dot the scripted upstream answers "250 queued" plus one
// stray "250 stray" line; the kept session is then one reply out of step.
func TestOutOfStepUpstreamNeverReadsAsDelivered(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var bodies int
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				w := func(s string) { c.Write([]byte(s)) }
				w("220 hi\r\n")
				indata := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if indata {
						if line == ".\r\n" {
							indata = false
							mu.Lock()
							bodies++
							n := bodies
							mu.Unlock()
							if n == 1 {
								w("250 queued\r\n250 stray\r\n")
							} else {
								w("250 queued\r\n")
							}
						}
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						w("250-hi\r\n250 8BITMIME\r\n")
					case strings.HasPrefix(cmd, "DATA"):
						indata = true
						w("354 go\r\n")
					case strings.HasPrefix(cmd, "QUIT"):
						w("221 bye\r\n")
						return
					default:
						w("250 ok\r\n")
					}
				}
			}(c)
		}
	}()
	tr, err := New("smtp://"+l.Addr().String()+"?tls=none", Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	env := Envelope{ID: "a", From: "a@example.com", To: []string{"b@example.net"}}
	t.Log(tr.Deliver(context.Background(), env, body))
	out := tr.Deliver(context.Background(), env, body)
	mu.Lock()
	defer mu.Unlock()
	if out[0].Delivered() && bodies < 2 {
		t.Errorf("second message reported delivered (%v) but the upstream got %d bodies", out[0], bodies)
	}
}
