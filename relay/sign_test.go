package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// keyring is a dkim.Keyring with a new Ed25519 key for example.com.
func keyring(t *testing.T) *dkim.Keyring {
	t.Helper()
	der, err := dkim.Generate(dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dkim.NewKey("example.com", "s1", der)
	if err != nil {
		t.Fatal(err)
	}
	r := &dkim.Keyring{}
	r.Set([]dkim.Key{k})
	return r
}

// gatedSigner is the real keyring, made to wait inside Sign until the
// test lets it go: a drop can then arrive while a message is signed.
type gatedSigner struct {
	*dkim.Keyring
	reached, release chan struct{}
}

func (g gatedSigner) Sign(msg []byte) ([]byte, int, error) {
	g.reached <- struct{}{}
	<-g.release
	return g.Keyring.Sign(msg)
}

// TestDropCutsASignedTransfer: signing does not weaken guarantee 3: a
// drop during the signing step, or during the transfer of a signed
// message before its dot, leaves the upstream without the message.
func TestDropCutsASignedTransfer(t *testing.T) {
	t.Parallel()
	t.Run("while signing", func(t *testing.T) {
		t.Parallel()
		g := gatedSigner{keyring(t), make(chan struct{}), make(chan struct{})}
		up := &smtptest.Server{}
		// Should the transfer start before the abort reaches it, it
		// stalls at DATA: either way the drop cuts it before the dot.
		data := up.StallDATA()
		h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}, disp: DispatcherConfig{Signer: g}})
		id := h.submit("dropped while signed")
		h.clock.Advance(time.Second)
		<-g.reached
		done := make(chan spool.Result)
		go func() { done <- h.dropWait(spool.Selector{IDs: []spool.ID{id}}) }()
		h.waitIntent(id)
		close(g.release)
		if res := <-done; res.Count(spool.Changed) != 1 {
			t.Fatalf("drop while signing: %v", res.Counts())
		}
		data.Release()
		up.WaitIdle(t)
		if n := len(up.Messages()); n != 0 {
			t.Fatalf("the upstream received %d messages after the drop", n)
		}
	})
	t.Run("before the dot", func(t *testing.T) {
		t.Parallel()
		up := &smtptest.Server{}
		gate := up.StallDATA()
		h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}, disp: DispatcherConfig{Signer: keyring(t)}})
		id := h.submit("signed and stalled")
		h.clock.Advance(time.Second)
		<-gate.Reached()
		if res := h.dropWait(spool.Selector{IDs: []spool.ID{id}}); res.Count(spool.Changed) != 1 {
			t.Fatalf("drop during the stall: %v", res.Counts())
		}
		gate.Release()
		up.WaitIdle(t)
		if n := len(up.Messages()); n != 0 {
			t.Fatalf("the upstream received %d messages after the drop", n)
		}
	})
	t.Run("delivered signed", func(t *testing.T) {
		t.Parallel()
		up := &smtptest.Server{}
		h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}, disp: DispatcherConfig{Signer: keyring(t)}})
		id := h.submit("signed")
		h.clock.Advance(time.Second)
		h.waitState(id, spool.Delivered)
		if msgs := up.Messages(); len(msgs) != 1 || !bytes.HasPrefix(msgs[0].Data, []byte("DKIM-Signature: ")) {
			t.Fatalf("upstream got %d messages, the first not signed", len(msgs))
		}
	})
}

// waitIntent waits until a drop or hold of the message in flight is
// recorded, for the attempt to carry out.
func (h *harness) waitIntent(id spool.ID) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err := h.spool.Get(id); err == nil && m.Intent != nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("no intent recorded")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
