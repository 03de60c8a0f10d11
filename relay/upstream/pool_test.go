package upstream

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
)

// front is a TCP proxy between the transport and a real upstream that
// counts connections and can cut them all, as an upstream that times out
// idle sessions does.
type front struct {
	t  *testing.T
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	n     int
	conns []net.Conn
}

func newFront(t *testing.T, upAddr string) *front {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{t: t, l: l}
	t.Cleanup(func() { l.Close(); f.cut(); f.wg.Wait() })
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upAddr)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.n++
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			f.wg.Add(2)
			go f.pipe(c, up)
			go f.pipe(up, c)
		}
	}()
	return f
}

func (f *front) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes every connection made so far, on both sides.
func (f *front) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *front) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *front) transport(t *testing.T) Transport {
	tr, err := New("smtp://"+f.l.Addr().String()+"?tls=none", Options{Hostname: "relay.test", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSessionIsReused(t *testing.T) {
	up := &smtptest.Server{}
	f := newFront(t, up.Start(t))
	tr := f.transport(t)
	for i := 0; i < 3; i++ {
		wantAll(t, deliver(t, tr, testEnv), 250, "")
	}
	if n := len(up.Messages()); n != 3 {
		t.Fatalf("upstream has %d messages, want 3", n)
	}
	if n := f.connections(); n != 1 {
		t.Errorf("3 messages took %d connections, want 1", n)
	}
	tr.(IdleCloser).CloseIdle()
	up.WaitIdle(t)
}

// An upstream that closed a kept session (its idle timeout) costs a new
// connection, not a deferral, and the message arrives once.
func TestSessionClosedByTheUpstreamIsReplaced(t *testing.T) {
	up := &smtptest.Server{}
	f := newFront(t, up.Start(t))
	tr := f.transport(t)
	wantAll(t, deliver(t, tr, testEnv), 250, "")
	f.cut()
	up.WaitIdle(t)
	wantAll(t, deliver(t, tr, testEnv), 250, "")
	if n := len(up.Messages()); n != 2 {
		t.Fatalf("upstream has %d messages, want 2", n)
	}
	if n := f.connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A kept session carries the drop guarantee like a new one: cancelled
// before the dot, the transfer is cut, and that connection is never used
// again.
func TestAbortedSessionIsNotReused(t *testing.T) {
	up := &smtptest.Server{}
	f := newFront(t, up.Start(t))
	tr := f.transport(t)
	wantAll(t, deliver(t, tr, testEnv), 250, "")

	gate := up.StallDATA()
	cancelAtGate(t, tr, gate)
	gate.Release()
	up.WaitIdle(t)
	if n := up.AbortedData(); n != 1 {
		t.Errorf("upstream saw %d aborted DATA transfers, want 1", n)
	}
	if n := f.connections(); n != 1 {
		t.Fatalf("the cancelled transfer used connection %d, want the kept one", n)
	}

	wantAll(t, deliver(t, tr, testEnv), 250, "")
	if n := len(up.Messages()); n != 2 {
		t.Errorf("upstream has %d messages, want 2 (the aborted one never arrives)", n)
	}
	if n := f.connections(); n != 2 {
		t.Errorf("%d connections after an abort, want 2: an aborted session is never reused", n)
	}
}

// A transaction left open (every recipient refused, so no DATA) ends its
// session: only sessions whose last transaction was answered are kept.
func TestSessionWithAnOpenTransactionIsNotKept(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	up := &smtptest.Server{OnRcpt: func(string) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
		}
		return nil
	}}
	f := newFront(t, up.Start(t))
	tr := f.transport(t)
	wantAll(t, deliver(t, tr, testEnv), 450, "try later")
	up.WaitIdle(t) // QUIT and closed
	refuse.Store(false)
	wantAll(t, deliver(t, tr, testEnv), 250, "")
	if n := f.connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}
