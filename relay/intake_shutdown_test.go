package relay

import (
	"context"
	"net"
	"testing"
	"time"
)

// A daemon whose other server fails at once may shut the intake down
// before the goroutine serving SMTP has started: Serve must then close its
// listener and return, or the daemon waits for it forever while clients
// still get 250s.
func TestServeAfterShutdownClosesTheListenerAndReturns(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.intake.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.intake.Serve(l, false) }()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		l.Close() // lets the test end
		t.Fatal("Serve after Shutdown did not return")
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener handed to Serve after Shutdown still accepts")
	}
}

// Shutdown racing a Serve that has just begun: whichever wins, Serve
// returns nil and its listener is closed.
func TestShutdownRacingServeEnds(t *testing.T) {
	for range 20 {
		h := newHarness(t, harnessConfig{})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- h.intake.Serve(l, false) }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = h.intake.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve: %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			l.Close()
			t.Fatal("Serve did not return after Shutdown")
		}
	}
}
