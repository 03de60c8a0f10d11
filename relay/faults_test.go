package relay

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// fault is what flakyFront does to the nth connection (from 0).
type fault int

const (
	pass        fault = iota // proxy to the real upstream
	hangUp                   // close at once, as an upstream that is down
	resetInData              // play SMTP up to the middle of DATA, then reset
)

// flakyFront stands between the relay and a real upstream and misbehaves
// on the connections script says, counting them.
type flakyFront struct {
	t      testing.TB
	script func(n int) fault
	conns  atomic.Int32
	wg     sync.WaitGroup
}

func (f *flakyFront) start(upAddr string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close(); f.wg.Wait() })
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(f.conns.Add(1)) - 1
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c, f.script(n), upAddr)
			}()
		}
	}()
	return l.Addr().String()
}

func (f *flakyFront) serve(c net.Conn, what fault, upAddr string) {
	defer c.Close()
	switch what {
	case hangUp:
		return
	case resetInData:
		r := bufio.NewReader(c)
		io.WriteString(c, "220 flaky ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"):
				io.WriteString(c, "250-flaky\r\n250 8BITMIME\r\n")
			case cmd == "DATA":
				io.WriteString(c, "354 go ahead\r\n")
				r.ReadString('\n') // one line of the message, then the wire goes dead
				c.(*net.TCPConn).SetLinger(0)
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	}
	up, err := net.Dial("tcp", upAddr)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(c, up)
	<-done
}

// deferredThenDelivered checks the shape every transient fault must have:
// the message is deferred with a backoff, is not retried while the clock
// stands still (no tight loop), and is delivered once when it is retried.
func deferredThenDelivered(t *testing.T, h *harness, id spool.ID) {
	t.Helper()
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	h.settle()
	if again, _ := h.spool.Get(id); again.Attempts != 1 {
		t.Fatalf("%d attempts without the clock moving: a tight retry loop", again.Attempts)
	}
	if wait := m.Release.Sub(h.clock.Now()); wait < 30*time.Second {
		t.Errorf("retry in %v: no backoff", wait)
	}
	h.clock.Set(m.Release)
	h.waitState(id, spool.Delivered)
	h.upstream.WaitIdle(t)
	if n := len(h.upstream.Messages()); n != 1 {
		t.Errorf("upstream got the message %d times", n)
	}
}

func TestUpstreamDownForAWhile(t *testing.T) {
	f := &flakyFront{t: t, script: func(n int) fault {
		if n == 0 {
			return hangUp
		}
		return pass
	}}
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond}, front: f.start})
	deferredThenDelivered(t, h, h.submit("down"))
}

func TestUpstreamResetsInTheMiddleOfData(t *testing.T) {
	f := &flakyFront{t: t, script: func(n int) fault {
		if n == 0 {
			return resetInData
		}
		return pass
	}}
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond}, front: f.start})
	id := h.submit("reset")
	deferredThenDelivered(t, h, id)
	if m, _ := h.spool.Get(id); m.Attempts != 2 {
		t.Errorf("%d attempts, want 2", m.Attempts)
	}
}

func TestUpstream421AtGreeting(t *testing.T) {
	var sessions atomic.Int32
	up := &smtptest.Server{OnSession: func(string) error {
		if sessions.Add(1) == 1 {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "not now"}
		}
		return nil
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	deferredThenDelivered(t, h, h.submit("busy"))
}

func TestSlowUpstreamTimesOutAndIsRetried(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		if calls.Add(1) == 1 {
			<-release // slower than the relay will wait
		}
		return nil
	}}
	t.Cleanup(func() { close(release) })
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond},
		upstreamOpts: upstream.Options{Timeout: 300 * time.Millisecond}})
	id := h.submit("slow")
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	if m.Rcpts[0].State != spool.RcptPending {
		t.Fatalf("a timed-out attempt marked the recipient %s", m.Rcpts[0].State)
	}
	h.clock.Set(m.Release)
	h.waitState(id, spool.Delivered)
	if n := calls.Load(); n != 2 {
		t.Errorf("upstream saw %d transfers, want the timed-out one and the retry", n)
	}
}

func TestUpstreamTLSFailureDefersWithoutATightLoop(t *testing.T) {
	up := &smtptest.Server{TLS: smtptest.StartTLS}
	// The relay does not trust the upstream's certificate: every
	// handshake fails.
	h := newHarness(t, harnessConfig{upstream: up, upstreamURL: "smtp://%s", intake: IntakeConfig{Hold: time.Nanosecond}})
	id := h.submit("untrusted")
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	h.settle()
	if again, _ := h.spool.Get(id); again.Attempts != 1 {
		t.Fatalf("%d attempts without the clock moving", again.Attempts)
	}
	if !strings.Contains(strings.ToLower(m.LastError), "tls") && !strings.Contains(m.LastError, "certificate") {
		t.Errorf("last error does not say what failed: %q", m.LastError)
	}
	if n := len(up.Messages()); n != 0 {
		t.Errorf("upstream got %d messages over a failed handshake", n)
	}
}
