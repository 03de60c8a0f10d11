package smtptest

import (
	"bytes"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Tap stands between an SMTP client and a server and records, byte for
// byte, what the client sends on each connection: what a server laxer
// than go-smtp would parse. Tests of SMTP smuggling read it with
// LaxMailFroms.
type Tap struct {
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	sent  []*bytes.Buffer // one per connection
	conns []net.Conn      // closed at cleanup: a client may keep its session open
	done  bool
}

// StartTap listens on 127.0.0.1:0 and forwards every connection to
// upAddr until t's cleanup. Addr is where the client should connect.
func StartTap(t testing.TB, upAddr string) *Tap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: tap: %v", err)
	}
	tp := &Tap{l: l}
	t.Cleanup(func() {
		l.Close()
		tp.mu.Lock()
		tp.done = true
		for _, c := range tp.conns {
			c.Close()
		}
		tp.mu.Unlock()
		tp.wg.Wait()
	})
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tp.wg.Add(1)
			go func() {
				defer tp.wg.Done()
				tp.forward(c, upAddr)
			}()
		}
	}()
	return tp
}

func (tp *Tap) Addr() string { return tp.l.Addr().String() }

// Sent is what the client has sent so far on each connection, in the
// order they were opened.
func (tp *Tap) Sent() [][]byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([][]byte, len(tp.sent))
	for i, b := range tp.sent {
		out[i] = bytes.Clone(b.Bytes())
	}
	return out
}

// recorder is one connection's record.
type recorder struct {
	tp  *Tap
	buf *bytes.Buffer
}

func (r recorder) Write(p []byte) (int, error) {
	r.tp.mu.Lock()
	defer r.tp.mu.Unlock()
	return r.buf.Write(p)
}

func (tp *Tap) forward(c net.Conn, upAddr string) {
	defer c.Close()
	up, err := net.Dial("tcp", upAddr)
	if err != nil {
		return
	}
	defer up.Close()
	rec := recorder{tp, new(bytes.Buffer)}
	tp.mu.Lock()
	tp.conns = append(tp.conns, c, up)
	tp.sent = append(tp.sent, rec.buf)
	done := tp.done
	tp.mu.Unlock()
	if done {
		return
	}
	sent := make(chan struct{})
	go func() {
		io.Copy(io.MultiWriter(up, rec), c)
		up.(*net.TCPConn).CloseWrite()
		close(sent)
	}()
	io.Copy(c, up)
	<-sent
}

var laxLineEnd = regexp.MustCompile("\r\n|\r|\n")

// LaxMailFroms returns the MAIL commands that a server taking CR, LF or
// CRLF for a line end would run on one connection's bytes: one per
// transaction the client meant, unless something was smuggled in a
// message.
func LaxMailFroms(sent []byte) []string {
	var mails []string
	inData := false
	for _, line := range laxLineEnd.Split(string(sent), -1) {
		switch cmd := strings.ToUpper(line); {
		case inData:
			inData = line != "."
		case cmd == "DATA":
			inData = true
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			mails = append(mails, line)
		}
	}
	return mails
}
