package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// scriptedUpstream answers one session by hand up to the 354 go-ahead, then
// reads one line of the body and stops reading, so that the client blocks
// writing a body larger than the socket buffers. It returns everything the
// client sent after 354, read once the client has closed.
func scriptedUpstream(t *testing.T, l net.Listener, reading chan<- struct{}) <-chan []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := textproto.NewConn(c)
		tc.PrintfLine("220 scripted ESMTP")
		for _, reply := range []string{"250 scripted", "250 2.0.0 ok", "250 2.0.0 ok", "354 go ahead"} {
			if _, err := tc.ReadLine(); err != nil {
				return
			}
			tc.PrintfLine("%s", reply)
		}
		if _, err := tc.ReadLine(); err != nil {
			return
		}
		close(reading)
		rest, _ := io.ReadAll(tc.R)
		got <- rest
	}()
	return got
}

func TestCancelWhileBodyIsWritten(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reading := make(chan struct{})
	got := scriptedUpstream(t, l, reading)
	tr, err := New("smtp://"+l.Addr().String()+"?tls=none", Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte(strings.Repeat("x", 998)+"\r\n"), 32<<10) // 32 MiB

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []Outcome)
	go func() { done <- tr.Deliver(ctx, Envelope{ID: "x", To: []string{"ann@example.net"}}, body) }()
	<-reading
	cancel()
	select {
	case out := <-done:
		wantAll(t, out, 0, "cancelled")
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver still writing 5s after cancel")
	}
	rest := <-got
	if len(rest) >= len(body) {
		t.Fatalf("upstream received %d bytes of a %d-byte body: the test did not block the writer", len(rest), len(body))
	}
	if bytes.Contains(rest, []byte("\r\n.\r\n")) || bytes.Contains(rest, []byte("QUIT")) {
		t.Error("the client ended the data after cancellation")
	}
}
