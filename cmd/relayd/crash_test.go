package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/smtptest"
)

// crashKills is how many times TestCrashLoop kills relayd: a few in
// make test, RELAY_CRASH_KILLS=25 in make reliability.
func crashKills(t *testing.T) int {
	if v := os.Getenv("RELAY_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RELAY_CRASH_KILLS=%q", v)
		}
		return n
	}
	return 3
}

// ledger is what the clients and the operator were told.
type ledger struct {
	mu       sync.Mutex
	accepted map[string]string // subject -> ID, for every 250
	dropped  map[string]bool   // IDs that a drop reported dropped
	tried    map[string]bool   // IDs a drop was sent for, answered or not
	order    []string          // accepted IDs, oldest first
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.order)
}

// TestCrashLoop kills relayd with SIGKILL at random moments while clients
// submit and an operator drops, restarts it each time, and then holds the
// guarantees: every message that got a 250 is delivered at least once
// unless a drop reported it dropped; no message a drop reported dropped is
// ever delivered; the spool passes its invariant check.
func TestCrashLoop(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		time.Sleep(time.Millisecond)
		return nil
	}}
	upAddr := up.Start(t)
	data := t.TempDir()
	sock := shortSock(t)
	args := []string{"--hold", "300ms", "--upstream", "smtp://" + upAddr + "?tls=none", "--admin-listen", "unix:" + sock}
	kills := crashKills(t)
	led := killLoop(t, data, "unix:"+sock, args, kills)

	d := startRelayd(t, data, args...)
	led.mu.Lock()
	defer led.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := deliveredSubjects(up)
		// A drop whose answer the kill cut off may have happened: such
		// a message need not be delivered, but must be dropped then.
		var missing []string
		for subj, id := range led.accepted {
			if !led.tried[id] && !got[subj] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted messages never delivered: %v\n%s", len(missing), missing, describe(t, "unix:"+sock, missing))
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := deliveredSubjects(up)
	for subj, id := range led.accepted {
		if led.dropped[id] && got[subj] {
			t.Errorf("message %s (%s) was reported dropped and was delivered", id, subj)
		}
	}
	t.Logf("%d kills: %d accepted, %d reported dropped, %d deliveries", kills, len(led.accepted), len(led.dropped), len(up.Messages()))
	if len(led.dropped) == 0 {
		t.Error("no drop ever succeeded: the test did not exercise drops")
	}

	stopAndCheck(t, d, data, fmt.Sprintf("after %d kills", kills))
}

func submitUntil(stop <-chan struct{}, addr, password, prefix string, led *ledger) {
	var c *smtp.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if c == nil {
			var err error
			if c, err = login(addr, password); err != nil {
				return // relayd is gone
			}
		}
		subject := fmt.Sprintf("%s-%d", prefix, i)
		reply, err := sendOn(c, subject)
		if err != nil {
			c.Close() // cut off mid-dialogue by the kill: not accepted
			c = nil
			continue
		}
		_, id, _ := strings.Cut(reply, "queued as ")
		led.mu.Lock()
		led.accepted[subject] = id
		led.order = append(led.order, id)
		led.mu.Unlock()
	}
}

// dropUntil drops a random accepted message now and then, and records
// the ones the answer says were dropped.
func dropUntil(stop <-chan struct{}, addr string, led *ledger) {
	c, err := admin.NewClient(addr, "")
	if err != nil {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		led.mu.Lock()
		id := pickDrop(led)
		if id != "" {
			led.tried[id] = true
		}
		led.mu.Unlock()
		if id == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.Drop(ctx, admin.ActionRequest{Selector: admin.Selector{IDs: []string{id}}, Reason: "crash test"})
		cancel()
		if err != nil {
			continue // killed mid-answer: we do not know, so we claim nothing
		}
		led.mu.Lock()
		for _, d := range res.IDs["changed"] {
			led.dropped[d] = true
		}
		led.mu.Unlock()
	}
}

// pickDrop chooses a message to drop: every other time the newest one
// not tried yet, which is almost always still waiting, so that drops
// succeed however slow the machine is; otherwise any one, which may be
// queued, being sent or delivered already.
func pickDrop(led *ledger) string {
	if len(led.order) == 0 || rand.IntN(4) != 0 {
		return ""
	}
	if rand.IntN(2) == 0 {
		for i := len(led.order) - 1; i >= 0; i-- {
			if id := led.order[i]; !led.tried[id] {
				return id
			}
		}
		return ""
	}
	id := led.order[rand.IntN(len(led.order))]
	if led.tried[id] {
		return ""
	}
	return id
}

func deliveredSubjects(up *smtptest.Server) map[string]bool {
	got := map[string]bool{}
	for _, m := range up.Messages() {
		got[subjectOf(m.Data)] = true
	}
	return got
}

// describe shows what relayd knows of messages, for a failure message.
func describe(t *testing.T, addr string, ids []string) string {
	c, err := admin.NewClient(addr, "")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, id := range ids {
		m, err := c.Message(context.Background(), id)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", id, err)
			continue
		}
		fmt.Fprintf(&b, "%s: %+v\n", id, m)
	}
	return b.String()
}

// killLoop starts relayd kills times on data, and each time has six
// clients submit and an operator drop (over admin) for a random 0.3-1.2 s
// before it kills relayd with SIGKILL. The ledger says what got a 250,
// what a drop reported, and what a drop was tried on.
func killLoop(t *testing.T, data, admin string, args []string, kills int) *ledger {
	t.Helper()
	led := &ledger{accepted: map[string]string{}, dropped: map[string]bool{}, tried: map[string]bool{}}
	password := ""
	for round := 0; round < kills; round++ {
		d := startRelayd(t, data, args...)
		if round == 0 {
			password = d.password
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := 0; c < 6; c++ {
			wg.Go(func() { submitUntil(stop, d.smtp, password, fmt.Sprintf("r%d-c%d", round, c), led) })
		}
		wg.Go(func() { dropUntil(stop, admin, led) })
		before := led.count()
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		// On a loaded machine a round can end before its first 250; the
		// kill is then still random, but comes after some mail is in.
		for deadline := time.Now().Add(20 * time.Second); led.count() == before && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		d.cmd.Process.Signal(syscall.SIGKILL)
		d.waitExit(t)
		close(stop)
		wg.Wait()
	}
	return led
}
