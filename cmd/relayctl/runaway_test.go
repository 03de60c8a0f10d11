package main

import (
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// TestRunawayClient is the story relayd is for: an application sprays
// mail as fast as it can, over several connections, and relayd delivers
// it as fast as it can (hold 0s). One relayctl credential disable, and
// nothing more of it leaves: when the command returns, the upstream has
// had the last message it will ever get from that credential, and the
// counts printed account for every message.
func TestRunawayClient(t *testing.T) {
	slowUpstream := func(smtptest.Message) error {
		time.Sleep(time.Millisecond) // at the edge of the world: a real upstream takes its time
		return nil
	}
	// Two deliveries at once fall behind four eager senders: the disable
	// finds mail queued and being sent, not only delivered.
	rd := startRelaydWith(t, relaydOptions{onData: slowUpstream, concurrency: 2})
	password := rd.addCredential(t, "runaway", "--hold", "0s")
	// The runaway brake would hold this mail before the disable does: this
	// test is about the disable, so the brake is off for it.
	mustRun(t, "--admin", rd.Socket, "credential", "set", "runaway", "--brake-duplicates", "0", "--brake-rate", "0")
	const (
		senders = 4
		from    = "runaway@example.com"
	)

	type sender struct {
		acked int   // messages the relay answered 250 to
		err   error // what stopped it
	}
	stopped := make(chan sender, senders)
	quit := make(chan struct{}) // should disable fail to stop them
	defer close(quit)
	for range senders {
		c := rd.login(t, "runaway", password)
		go func() {
			var s sender
			for {
				select {
				case <-quit:
					stopped <- s
					return
				default:
				}
				if _, s.err = submit(c, from, 200); s.err != nil {
					stopped <- s
					return
				}
				s.acked++
			}
		}()
	}
	// Disable once the dispatcher is busy delivering.
	eventually(t, "the runaway's mail to reach the upstream", func() bool { return rd.upstreamFrom(from) >= 20 })
	res := disable(t, rd, "runaway", "--reason", "runaway script")
	upstreamAtDisable := rd.upstreamFrom(from)

	acked := 0
	for range senders {
		select {
		case s := <-stopped:
			if code := smtpCode(s.err); code != -1 && code != 530 {
				t.Errorf("a sender stopped with %v, want its connection closed or 530 5.7.0", s.err)
			}
			acked += s.acked
		case <-time.After(10 * time.Second):
			t.Fatal("a sender still sends 10s after disable returned")
		}
	}
	rd.settle(t)
	t.Logf("senders told of %d messages; disable: held %d, delivered during %d, already delivered %d; upstream %d",
		acked, res.Held, res.DeliveredDuring, res.AlreadyDelivered, upstreamAtDisable)
	if res.Held == 0 {
		t.Error("disable held nothing: the dispatcher kept up, and the test shows less than it should")
	}

	if n := rd.upstreamFrom(from); n != upstreamAtDisable {
		t.Errorf("the upstream got %d messages from the runaway after disable returned (%d then, %d now)",
			n-upstreamAtDisable, upstreamAtDisable, n)
	}
	counts := rd.countStates(t, "runaway")
	if counts[spool.Held] != res.Held || res.AlreadyHeld != 0 {
		t.Errorf("disable reported %d held (and %d already held); the spool holds %d", res.Held, res.AlreadyHeld, counts[spool.Held])
	}
	if got := res.AlreadyDelivered + res.DeliveredDuring; got != upstreamAtDisable || got != counts[spool.Delivered] {
		t.Errorf("disable reported %d already delivered + %d delivered during = %d; the upstream got %d, the spool says %d delivered",
			res.AlreadyDelivered, res.DeliveredDuring, got, upstreamAtDisable, counts[spool.Delivered])
	}
	if res.InFlight != 0 || res.FailedDuring != 0 {
		t.Errorf("disable left %d in flight, %d failed", res.InFlight, res.FailedDuring)
	}
	for _, st := range []spool.State{spool.Waiting, spool.Queued, spool.Sending, spool.Deferred, spool.Failed, spool.Dropped} {
		if counts[st] != 0 {
			t.Errorf("%d of the runaway's messages are %s", counts[st], st)
		}
	}
	// Every message a sender was told was accepted is held or delivered;
	// a session cut off between the spool's commit and its 250 adds at
	// most one more each.
	if total := counts[spool.Held] + counts[spool.Delivered]; total < acked || total > acked+senders {
		t.Errorf("the spool has %d of the runaway's messages; the senders were told of %d", total, acked)
	}
}
