package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/spool/pg"
)

// clusterLease is every test node's --node-lease: the shortest relayd
// takes, so that a dead node is taken over within the test's time.
const clusterLease = 3 * time.Second

// TestClusterDropCutsAnotherNodesTransferAndKill9IsTakenOver runs three
// relayd nodes on one PostgreSQL spool, each with its own upstream: b's
// stalls in DATA until released, a's accepts at once, c's answers the
// final dot after two seconds (and, for the credential late, only once the
// test lets it: the message is then wholly received, but its sender never
// hears so). A drop on a cuts b's transfer before its dot; c is killed
// with SIGKILL mid-delivery and a and b take over its attempts as
// interrupted, as SPEC's "Shared spool" says: a pause on late holds late's
// interrupted mail, and a drop of it reports maybe_delivered.
func TestClusterDropCutsAnotherNodesTransferAndKill9IsTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("three relayd nodes and a SIGKILL take half a minute")
	}
	url := pgtest.Database(t)
	ctl := newRelayctl(t)
	began := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	good := &smtptest.Server{}
	good.Start(t)
	stall := &smtptest.Server{}
	stall.Start(t)
	gate := stall.StallDATA()
	slow := startSlowUpstream(t)

	// 1. b alone sends m1, which stalls in DATA. b has one delivery slot,
	// which m1 takes, so that only c can take late's mail below.
	b := startNode(t, url, "b", stall.Addr(), "--delivery-concurrency", "1")
	if b.password == "" {
		t.Fatalf("the first node printed no password:\n%s", b.stdout)
	}
	var late admin.CredentialCreated
	ctl.json(b, &late, "credential", "add", "late")
	m1 := mustSubmit(t, b.smtp, "default", b.password, "m1")
	waitClosed(t, gate.Reached(), "b's transfer of m1 to reach DATA")
	ctl.waitState(b, m1, "sending")
	step("m1 sending on b")

	// 2. c joins and sends late's mail up to the dot, where it stays;
	// then a joins.
	c := startNode(t, url, "c", slow.Addr())
	ids := map[string]string{} // subject -> ID
	var lateIDs []string
	for i := range 10 {
		subject := fmt.Sprintf("late-%d", i)
		ids[subject] = mustSubmit(t, c.smtp, "late", late.Password, subject)
		lateIDs = append(lateIDs, ids[subject])
	}
	poll(t, 20*time.Second, func() string {
		if n := len(slow.inside()); n < len(lateIDs) {
			return fmt.Sprintf("c is past the dot of %d of late's %d messages", n, len(lateIDs))
		}
		return ""
	})
	a := startNode(t, url, "a", good.Addr())
	step("late's mail in flight on c")

	// 3. A drop on a cuts b's transfer before its dot.
	var drop admin.ActionResult
	ctl.json(a, &drop, "drop", m1)
	if drop.Counts[admin.OutcomeChanged] != 1 || total(drop.Counts) != 1 {
		t.Fatalf("drop of m1, sending on b, on a: %v; want it dropped", drop.Counts)
	}
	if d := ctl.show(b, m1); d.State != "dropped" {
		t.Fatalf("b shows m1 %s after a dropped it", d.State)
	}
	step("m1 dropped from a")

	// 4. 200 more, round robin; once c is mid-delivery with some of them
	// too, late is paused (c's attempts go on) and c is killed.
	for subject, id := range submitRoundRobin(t, []*node{a, b, c}, b.password, 200) {
		ids[subject] = id
	}
	step("210 messages accepted")
	ctl.waitListedSending(a, lateIDs)
	var paused map[string]any
	ctl.json(a, &paused, "pause", "--credential", "late", "--reason", "c's late mail")
	// Watched in-process, so that c is killed while these are in flight.
	poll(t, 20*time.Second, func() string {
		if slow.ordinaryInside() == 0 {
			return "c is sending none of default's messages"
		}
		return ""
	})
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.waitExit(t)
	inFlight := slow.inside() // c died waiting for these replies
	slow.free()
	gate.Release()
	step(fmt.Sprintf("c killed with %d attempts past the dot: %v", len(inFlight), inFlight))

	// 5. a and b deliver everything but late's, which c's death left
	// held by the pause.
	byID := ctl.waitSettled(a, ids, clusterLease+30*time.Second)
	step("all settled")
	reached := deliveredSubjects(good)
	for _, up := range []*smtptest.Server{stall, slow.Server} {
		for s := range deliveredSubjects(up) {
			reached[s] = true
		}
	}
	for subject, id := range ids {
		if byID[id].State == "delivered" && !reached[subject] {
			t.Errorf("%s (%s) is delivered but no upstream got it", subject, id)
		}
	}
	if reached["m1"] {
		t.Error("m1 was dropped while b sent it, yet an upstream got it")
	}
	if d := ctl.show(a, m1); d.State != "dropped" {
		t.Errorf("m1 ended %s, want dropped", d.State)
	}
	checkNodes(t, ctl.status(a), map[string]bool{"a": true, "b": true, "c": false})
	checkTakeoverAudited(t, ctl, b, "c")

	var delivered string // one of c's attempts, taken over and delivered since
	for _, subject := range inFlight {
		d := ctl.show(a, ids[subject])
		if !interrupted(d) {
			t.Errorf("%s (%s) was in flight on c when it died; its history does not say interrupted: %+v", subject, d.ID, d.History)
		}
		if !strings.HasPrefix(subject, "late-") && d.State == "delivered" {
			delivered = d.ID
		}
	}
	checkLateDrop(t, ctl, a, lateIDs)
	if delivered == "" {
		t.Error("none of c's interrupted attempts was delivered by another node")
	} else {
		var again admin.ActionResult
		ctl.json(b, &again, "drop", delivered)
		if again.Counts[admin.OutcomeDelivered] != 1 {
			t.Errorf("drop of %s, interrupted on c then delivered: %v; want already delivered", delivered, again.Counts)
		}
	}

	for _, n := range []*node{a, b} {
		n.cmd.Process.Signal(syscall.SIGTERM)
		if err := n.waitExit(t); err != nil {
			t.Errorf("node %s after SIGTERM: %v\nstderr:\n%s", n.name, err, n.stderr)
		}
	}
	checkSpool(t, url)
	step("checked")
}

// checkLateDrop drops late's mail, which c had sent up to the dot when
// it died and the pause kept from being sent again: each is
// maybe_delivered, as SPEC says of interrupted messages, none dropped.
func checkLateDrop(t *testing.T, ctl *relayctl, n *node, lateIDs []string) {
	t.Helper()
	var res admin.ActionResult
	ctl.json(n, &res, append([]string{"drop"}, lateIDs...)...)
	if res.Counts[admin.OutcomeMaybeDelivered] != len(lateIDs) || total(res.Counts) != len(lateIDs) {
		t.Errorf("drop of late's %d messages, in flight on c when it died: %v; want each maybe_delivered", len(lateIDs), res.Counts)
	}
}

// checkTakeoverAudited finds the takeover of dead's attempts in the
// audit log.
func checkTakeoverAudited(t *testing.T, ctl *relayctl, n *node, dead string) {
	t.Helper()
	var audit admin.AuditList
	ctl.json(n, &audit, "audit", "ls", "--limit", "1000")
	for _, e := range audit.Entries {
		if e.Action == "takeover" && strings.Contains(e.Selector+" "+e.Detail, dead) {
			return
		}
	}
	t.Errorf("the audit log has no takeover of node %s: %+v", dead, audit.Entries)
}

// checkSpool opens the shared spool as a node of its own and checks its
// invariants.
func checkSpool(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, url, pg.Options{Node: "check", Lease: clusterLease})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.New(db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Check(); err != nil {
		t.Errorf("spool invariants: %v", err)
	}
}

// total is the number of messages an action's answer counts.
func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func interrupted(d admin.MessageDetails) bool {
	for _, e := range d.History {
		if strings.Contains(e.Reason, "interrupted") {
			return true
		}
	}
	return false
}

// clusterNode is a node as relayctl status -o json lists it.
type clusterNode struct {
	Name     string    `json:"name"`
	Alive    bool      `json:"alive"`
	LastSeen time.Time `json:"last_seen"`
}

func checkNodes(t *testing.T, nodes []clusterNode, want map[string]bool) {
	t.Helper()
	got := map[string]bool{}
	for _, n := range nodes {
		got[n.Name] = n.Alive
	}
	for name, alive := range want {
		if a, ok := got[name]; !ok || a != alive {
			t.Errorf("status lists nodes %+v; want %s alive=%v", nodes, name, alive)
		}
	}
}

// node is one relayd of a cluster test.
type node struct {
	*proc
	name  string
	admin string // unix:PATH
}

// startNode starts relayd as node name of the cluster whose spool is at
// spoolURL, delivering at once to the SMTP server at upstream.
func startNode(t *testing.T, spoolURL, name, upstream string, extra ...string) *node {
	t.Helper()
	sock := "unix:" + shortSock(t)
	args := append([]string{"--spool", spoolURL, "--node-name", name,
		"--node-lease", clusterLease.String(), "--hold", "0s",
		"--upstream", "smtp://" + upstream + "?tls=none", "--admin-listen", sock}, extra...)
	d := startRelayd(t, t.TempDir(), args...)
	return &node{proc: d, name: name, admin: sock}
}

var queuedRe = regexp.MustCompile(`queued as (\S+)`)

// submitAs sends one message as user and returns its queue ID.
func submitAs(addr, user, password, subject string) (string, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Hello("cluster.test"); err != nil {
		return "", err
	}
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		return "", err
	}
	reply, err := sendOn(c, subject)
	if err != nil {
		return "", err
	}
	c.Quit()
	m := queuedRe.FindStringSubmatch(reply)
	if m == nil {
		return "", fmt.Errorf("no queue ID in %q", reply)
	}
	return m[1], nil
}

func mustSubmit(t *testing.T, addr, user, password, subject string) string {
	t.Helper()
	id, err := submitAs(addr, user, password, subject)
	if err != nil {
		t.Fatalf("submitting %s to %s: %v", subject, addr, err)
	}
	return id
}

// submitRoundRobin sends n messages as default, the i-th to nodes[i%len],
// two sessions per node at a time, and returns their IDs by subject.
func submitRoundRobin(t *testing.T, nodes []*node, password string, n int) map[string]string {
	t.Helper()
	var mu sync.Mutex
	ids := map[string]string{}
	errs := make(chan error, 2*len(nodes))
	var wg sync.WaitGroup
	for w := range 2 * len(nodes) {
		wg.Go(func() {
			for i := w; i < n; i += 2 * len(nodes) {
				subject := fmt.Sprintf("rr-%d", i)
				id, err := submitAs(nodes[i%len(nodes)].smtp, "default", password, subject)
				if err != nil {
					errs <- fmt.Errorf("%s to node %s: %w", subject, nodes[i%len(nodes)].name, err)
					return
				}
				mu.Lock()
				ids[subject] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// slowUpstream answers the final dot after two seconds; for subjects that
// begin "late-", only once freed. Either way the message is then
// recorded, even if its sender has gone: the upstream has it in full.
type slowUpstream struct {
	*smtptest.Server
	release chan struct{}
	once    sync.Once

	mu      sync.Mutex
	waiting map[string]bool // subjects whose reply is pending
}

func startSlowUpstream(t *testing.T) *slowUpstream {
	u := &slowUpstream{release: make(chan struct{}), waiting: map[string]bool{}}
	u.Server = &smtptest.Server{OnData: u.onData}
	u.Start(t)
	t.Cleanup(u.free)
	return u
}

func (u *slowUpstream) onData(m smtptest.Message) error {
	subject := subjectOf(m.Data)
	u.mu.Lock()
	u.waiting[subject] = true
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.waiting, subject)
		u.mu.Unlock()
	}()
	delay := 2 * time.Second
	if strings.HasPrefix(subject, "late-") {
		delay = time.Hour
	}
	select {
	case <-time.After(delay):
	case <-u.release:
	}
	return nil
}

// ordinaryInside counts the pending replies to messages not of late.
func (u *slowUpstream) ordinaryInside() int {
	n := 0
	for _, s := range u.inside() {
		if !strings.HasPrefix(s, "late-") {
			n++
		}
	}
	return n
}

// inside lists the subjects whose reply is pending.
func (u *slowUpstream) inside() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var s []string
	for subject := range u.waiting {
		s = append(s, subject)
	}
	return s
}

// free answers every pending and later final dot at once.
func (u *slowUpstream) free() { u.once.Do(func() { close(u.release) }) }

// relayctl runs the real relayctl against a node's admin API.
type relayctl struct {
	t   *testing.T
	bin string
}

func newRelayctl(t *testing.T) *relayctl { return &relayctl{t: t, bin: buildRelayctl(t)} }

// run returns relayctl's stdout, stderr and exit status.
func (c *relayctl) run(n *node, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--admin", n.admin}, args...)...)
	cmd.Env = cleanEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		c.t.Fatalf("relayctl %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// json runs relayctl -o json, which must exit 0, into v.
func (c *relayctl) json(n *node, v any, args ...string) {
	c.t.Helper()
	out, errs, code := c.run(n, append(args, "-o", "json")...)
	if code != 0 {
		c.t.Fatalf("relayctl %v on node %s: exit %d\n%s%s\nrelayd's log:\n%s", args, n.name, code, out, errs, n.stderr)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("relayctl %v -o json: %v\n%s", args, err, out)
	}
}

func (c *relayctl) show(n *node, id string) admin.MessageDetails {
	c.t.Helper()
	var d admin.MessageDetails
	c.json(n, &d, "queue", "show", id)
	return d
}

func (c *relayctl) status(n *node) []clusterNode {
	c.t.Helper()
	var st struct {
		Nodes []clusterNode `json:"nodes"`
	}
	c.json(n, &st, "status")
	return st.Nodes
}

// list returns every message of the spool, by ID, as node n sees it.
func (c *relayctl) list(n *node, selectors ...string) map[string]admin.Message {
	c.t.Helper()
	all := map[string]admin.Message{}
	cursor := ""
	for {
		args := append([]string{"queue", "ls", "--limit", fmt.Sprint(admin.MaxLimit)}, selectors...)
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		var page admin.MessageList
		c.json(n, &page, args...)
		for _, m := range page.Messages {
			all[m.ID] = m
		}
		if cursor = page.NextCursor; cursor == "" {
			return all
		}
	}
}

func (c *relayctl) waitState(n *node, id, state string) {
	c.t.Helper()
	poll(c.t, 10*time.Second, func() string {
		if d := c.show(n, id); d.State != state {
			return fmt.Sprintf("%s is %s, want %s", id, d.State, state)
		}
		return ""
	})
}

// waitListedSending waits until the cluster's list of sending messages,
// as node n gives it, holds every one of ids.
func (c *relayctl) waitListedSending(n *node, ids []string) {
	c.t.Helper()
	poll(c.t, 10*time.Second, func() string {
		sending := c.list(n, "--state", "sending")
		for _, id := range ids {
			if _, ok := sending[id]; !ok {
				return fmt.Sprintf("list --state sending on %s leaves out %s", n.name, id)
			}
		}
		return ""
	})
}

// waitSettled waits until every message of ids is delivered, but late's,
// which must be delivered or held, and returns them all by ID.
func (c *relayctl) waitSettled(n *node, ids map[string]string, limit time.Duration) map[string]admin.Message {
	c.t.Helper()
	var all map[string]admin.Message
	poll(c.t, limit, func() string {
		all = c.list(n)
		left := 0
		var example string
		for subject, id := range ids {
			st := all[id].State
			if st == "delivered" || (strings.HasPrefix(subject, "late-") && st == "held") {
				continue
			}
			left++
			example = fmt.Sprintf("%s (%s) %s", subject, id, st)
		}
		if left > 0 {
			return fmt.Sprintf("%d of %d messages not settled, e.g. %s", left, len(ids), example)
		}
		return ""
	})
	return all
}

// poll calls check every 50 ms until it returns "", and fails the test
// with its last answer after limit.
func poll(t *testing.T, limit time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}
