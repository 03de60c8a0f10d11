package relay

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdrelay/relay/spool"
)

// bigBody is a message of about n bytes, different for each tag.
func bigBody(tag string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: big %s\r\n\r\n", tag)
	line := strings.Repeat(tag, 76/len(tag)+1)[:76] + "\r\n"
	for b.Len() < n {
		b.WriteString(line)
	}
	return b.String()
}

// chunksHeld is what a message holds in chunks once n bytes of it (our
// Received header included) have arrived: see inbound.grow.
func chunksHeld(n int) int64 {
	var held int64
	for size := int64(firstChunk); held < int64(n); size = min(2*size, maxChunk) {
		held += size
	}
	return held
}

// waitInUse polls the budget until it holds want: the sessions' reading
// happens on their own goroutines.
func waitInUse(t *testing.T, in *Intake, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.budget.inUse() != want {
		if time.Now().After(deadline) {
			t.Fatalf("budget in use %d, want %d", in.budget.inUse(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInflightBudget: sessions whose messages together would take more
// memory than --max-inflight-bytes get 452 4.3.1 (DATA and BDAT alike)
// while the others go through intact; the refused sessions stay in step
// and, once the budget is free again, the same sessions send the same
// messages successfully.
func TestInflightBudget(t *testing.T) {
	const part = 300 << 10
	held := chunksHeld(part + 512) // a part, and a Received header of at most 512 bytes
	// Two sessions holding a part each, and room for one of them to join
	// its chunks into the one piece the spool takes; a third part cannot fit.
	h := trustedHarness(t, IntakeConfig{MaxInflightBytes: 2*held + part + 10<<10, MaxMessageBytes: 4 << 20})
	bodies := []string{bigBody("one", part+100), bigBody("two", part+100), bigBody("three", part+100), bigBody("four", part+100)}

	var holders []*rawConn
	for i := range 2 {
		c := rawSession(t, h)
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		c.cmd("DATA", "354 ")
		io.WriteString(c, bodies[i][:part])
		waitInUse(t, h.intake, int64(i+1)*held)
		holders = append(holders, c)
	}

	// While they hold their parts: refused, by DATA and by BDAT.
	c3 := rawSession(t, h)
	c3.cmd("MAIL FROM:<a@example.com>", "250 ")
	c3.cmd("RCPT TO:<b@example.net>", "250 ")
	c3.cmd("DATA", "354 ")
	c3.cmd(bodies[2]+".", "452 4.3.1")
	c4 := rawSession(t, h)
	c4.cmd("MAIL FROM:<a@example.com>", "250 ")
	c4.cmd("RCPT TO:<b@example.net>", "250 ")
	c4.chunk(bodies[3], true, "452 4.3.1")
	c4.cmd("NOOP", "250 ")
	waitInUse(t, h.intake, 2*held)

	var replies []string
	for i, c := range holders {
		replies = append(replies, c.cmd(bodies[i][part:]+".", "250 2.0.0"))
	}
	if n := h.intake.budget.inUse(); n != 0 {
		t.Errorf("budget still holds %d bytes with no message arriving", n)
	}
	// The refused sessions are in step: they try again and get through.
	c3.cmd("MAIL FROM:<a@example.com>", "250 ")
	c3.cmd("RCPT TO:<b@example.net>", "250 ")
	c3.cmd("DATA", "354 ")
	replies = append(replies, c3.cmd(bodies[2]+".", "250 2.0.0"))
	c4.cmd("MAIL FROM:<a@example.com>", "250 ")
	c4.cmd("RCPT TO:<b@example.net>", "250 ")
	replies = append(replies, c4.chunk(bodies[3], true, "250 2.0.0"))

	for i, r := range replies {
		if got := bodyOf(t, h, r); string(got) != bodies[i] {
			t.Errorf("message %d: stored %d bytes, not the %d sent", i, len(got), len(bodies[i]))
		}
	}
	if n := h.intake.budget.inUse(); n != 0 {
		t.Errorf("budget still holds %d bytes with no message arriving", n)
	}
	h.settle()
	h.clock.Advance(time.Minute)
	for _, m := range h.upstream.Wait(t, 4) {
		if !slicesContainsSuffix(bodies, m.Data) {
			t.Errorf("upstream got a message that is none of those sent, intact (%d bytes)", len(m.Data))
		}
	}
}

func slicesContainsSuffix(bodies []string, data []byte) bool {
	for _, b := range bodies {
		if bytes.HasSuffix(data, []byte(b)) {
			return true
		}
	}
	return false
}

// TestInflightBudgetStorm: many sessions at once against a small budget.
// Each gets 250 or 452, nothing else; what was accepted is intact; the
// budget is whole again afterwards, and new mail goes through.
func TestInflightBudgetStorm(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{MaxInflightBytes: 2 << 20, MaxMessageBytes: 4 << 20})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted, refused int
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bigBody(fmt.Sprintf("s%02d", i), 400<<10)
			c := h.dial()
			reply, err := send(t, c, "a@example.com", []string{"b@example.net"}, body)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
				if got := bodyOf(t, h, reply); string(got) != body {
					t.Errorf("session %d: stored %d bytes, not the %d sent", i, len(got), len(body))
				}
			case smtpReply(err) == "452 4.3.1":
				refused++
			default:
				t.Errorf("session %d: %v, want 250 or 452 4.3.1", i, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d accepted, %d refused", accepted, refused)
	if accepted == 0 {
		t.Error("no session got its message through")
	}
	if n := h.intake.budget.inUse(); n != 0 {
		t.Errorf("budget still holds %d bytes with no message arriving", n)
	}
	if _, err := send(t, h.dial(), "a@example.com", []string{"b@example.net"}, bigBody("after", 512<<10)); err != nil {
		t.Errorf("after the storm: %v", err)
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != accepted+1 {
		t.Errorf("spooled %d, want %d", n[spool.Waiting], accepted+1)
	}
}

// TestInboundGrowsByChunks: a big message holds little more than its size
// while it arrives, and exactly its size once in one piece; a bytes.Buffer
// held up to twice that.
func TestInboundGrowsByChunks(t *testing.T) {
	b := &budget{max: -1}
	m := &inbound{budget: b}
	const size = 20 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if err := m.readFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if held := b.inUse(); held < size || held > size+maxChunk {
		t.Errorf("%d bytes held for a message of %d arriving", held, size)
	}
	got, err := m.bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || b.inUse() != size {
		t.Errorf("in one piece: equal %v, %d bytes held, want %d", bytes.Equal(got, data), b.inUse(), size)
	}
	m.release()
	if b.inUse() != 0 {
		t.Errorf("%d bytes held after release", b.inUse())
	}
}

// TestMinInflightBytes: with the smallest budget relayd accepts, the
// largest message allowed goes through when it arrives alone.
func TestMinInflightBytes(t *testing.T) {
	const max = 3<<20 + 5
	h := trustedHarness(t, IntakeConfig{MaxMessageBytes: max, MaxInflightBytes: MinInflightBytes(max)})
	body := bigBody("max", max)[:max-3] + "\r\n" // go-smtp refuses max bytes exactly
	if _, err := send(t, h.dial(), "a@example.com", []string{"b@example.net"}, body); err != nil {
		t.Fatalf("a message of the largest size, alone: %v", err)
	}
}

// TestInflightMetric: relay_smtp_inflight_bytes follows the budget, and a
// refusal for want of it counts as a 452.
func TestInflightMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := trustedHarness(t, IntakeConfig{MaxInflightBytes: 256 << 10, Metrics: NewMetrics(reg)})
	gauge := func() float64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "relay_smtp_inflight_bytes" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("relay_smtp_inflight_bytes is not registered")
		return 0
	}
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	io.WriteString(c, bigBody("held", 100<<10))
	waitInUse(t, h.intake, chunksHeld(100<<10))
	if got := gauge(); got != float64(h.intake.budget.inUse()) {
		t.Errorf("gauge %v while %d bytes are held", got, h.intake.budget.inUse())
	}
	c.cmd(".", "250 ")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd(bigBody("too big", 300<<10)+".", "452 4.3.1")
	if got := gauge(); got != 0 {
		t.Errorf("gauge %v with no message arriving", got)
	}
	if got := testCounter(t, reg, "relay_smtp_refused_total", "452"); got != 1 {
		t.Errorf("refused{code=452} = %v, want 1", got)
	}
}

// testCounter reads one labelled counter from reg.
func testCounter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if f.GetName() == name && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
