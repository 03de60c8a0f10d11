package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/internal/smtptest"
)

// loginAs tries an SMTP login as user.
func loginAs(addr, user, password string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("cluster.test"); err != nil {
		return err
	}
	return c.Auth(sasl.NewPlainClient("", user, password))
}

// eventually polls cond until it holds, for 20 s at most.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoNodesShareOneSpool starts two relayd on one PostgreSQL spool and
// checks what relayd itself wires up: both nodes listed by either, the
// first credential made once, credentials changed on one node in force on
// the other, webhook events delivered by one node only, and backup
// refused with a pointer to pg_dump.
func TestTwoNodesShareOneSpool(t *testing.T) {
	url := pgtest.Database(t)
	sockA, sockB := "unix:"+shortSock(t), "unix:"+shortSock(t)
	env := []string{"RELAY_SPOOL=" + url, "RELAY_NODE_LEASE=3s"}
	a := startRelaydEnv(t, env, t.TempDir(), "--node-name", "mx-a", "--admin-listen", sockA, "--hold", "1h", "--log-level", "debug")
	if a.password == "" {
		t.Fatalf("the first node did not make the first credential\nstderr:\n%s", a.stderr)
	}
	b := startRelaydEnv(t, env, t.TempDir(), "--node-name", "mx-b", "--admin-listen", sockB, "--hold", "1h", "--log-level", "debug")
	if b.password != "" {
		t.Error("the second node made another first credential")
	}
	ca, err := admin.NewClient(sockA, "")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := admin.NewClient(sockB, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	st, err := cb.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]admin.Node{}
	for _, n := range st.Nodes {
		seen[n.Name] = n
	}
	if len(st.Nodes) != 2 || !seen["mx-a"].Alive || !seen["mx-b"].Alive || !seen["mx-b"].Self || seen["mx-a"].Self ||
		seen["mx-a"].Lease != "3s" || seen["mx-a"].LastSeen.IsZero() {
		t.Errorf("status from mx-b lists %+v", st.Nodes)
	}

	// A credential made on one node works on the other; disabled there,
	// it stops working here.
	if _, err := submit(b.smtp, a.password, "made on mx-a, sent on mx-b"); err != nil {
		t.Errorf("the first credential on the second node: %v", err)
	}
	shop, err := ca.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a credential added on mx-a logs in on mx-b", func() bool { return loginAs(b.smtp, "shop", shop.Password) == nil })
	if _, err := cb.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: "leak"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a credential disabled on mx-b stops logging in on mx-a", func() bool { return loginAs(a.smtp, "shop", shop.Password) != nil })
	if !strings.Contains(a.stderr.String(), "records changed on another node; reloaded") {
		t.Errorf("mx-a did not log its reload:\n%s", a.stderr)
	}

	// Webhook events go out once, from one node, whichever added it.
	rec := &countLog{n: map[string]int{}}
	rcv := httptest.NewServer(rec)
	defer rcv.Close()
	if _, err := cb.AddWebhook(ctx, admin.AddWebhookRequest{Name: "recorder", URL: rcv.URL}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, c := range []*admin.Client{ca, cb, ca, cb} {
		var tested admin.WebhookTested
		// The other node may not know the webhook yet.
		eventually(t, "a test event of the webhook", func() bool { tested, err = c.TestWebhook(ctx, "recorder"); return err == nil })
		ids = append(ids, tested.Event.ID)
		eventually(t, "the test event reaches the receiver", func() bool { return rec.count(ids[i]) > 0 })
	}
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Errorf("event %s delivered %d times, want once", id, n)
		}
	}

	_, err = ca.Backup(ctx, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of a PostgreSQL spool: %v, want a refusal naming pg_dump", err)
	}

	// mx-a dies: whichever node led, mx-b delivers now.
	a.kill()
	tested, err := cb.TestWebhook(ctx, "recorder")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "mx-b delivers once mx-a is gone", func() bool { return rec.count(tested.Event.ID) > 0 })
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.waitExit(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\nstderr:\n%s", err, b.stderr)
	}
}

// TestNodesStartedTogetherMakeOneFirstCredential: nodes started at once
// on an empty database make one first credential between them, and the
// one password printed works on every node.
func TestNodesStartedTogetherMakeOneFirstCredential(t *testing.T) {
	url := pgtest.Database(t)
	env := []string{"RELAY_SPOOL=" + url, "RELAY_NODE_LEASE=3s"}
	var nodes []*proc
	for _, name := range []string{"mx-a", "mx-b", "mx-c"} {
		nodes = append(nodes, launchRelayd(t, env, t.TempDir(), "--node-name", name, "--admin-listen", "unix:"+shortSock(t)))
	}
	var passwords []string
	for _, d := range nodes {
		d.waitStarted(t)
		if d.password != "" {
			passwords = append(passwords, d.password)
		}
	}
	if len(passwords) != 1 {
		t.Fatalf("%d nodes printed a first password, want 1", len(passwords))
	}
	for _, d := range nodes {
		if _, err := submit(d.smtp, passwords[0], "first"); err != nil {
			t.Errorf("the first password on %s: %v", d.smtp, err)
		}
	}
}

// TestAnotherNodeDeliversADeadNodesMail: mx-b accepts a message held for
// two seconds and dies; mx-a, which was never told of it, finds it due on
// its own (a node on a shared spool looks every second) and delivers it.
func TestAnotherNodeDeliversADeadNodesMail(t *testing.T) {
	url := pgtest.Database(t)
	up := &smtptest.Server{}
	upstream := "smtp://" + up.Start(t) + "?tls=none"
	env := []string{"RELAY_SPOOL=" + url, "RELAY_NODE_LEASE=3s"}
	a := startRelaydEnv(t, env, t.TempDir(), "--node-name", "mx-a", "--admin-listen", "unix:"+shortSock(t), "--hold", "2s", "--upstream", upstream)
	b := startRelaydEnv(t, env, t.TempDir(), "--node-name", "mx-b", "--admin-listen", "unix:"+shortSock(t), "--hold", "2s", "--upstream", upstream)
	if _, err := submit(b.smtp, a.password, "left behind"); err != nil {
		t.Fatal(err)
	}
	b.kill()
	deadline := time.Now().Add(15 * time.Second)
	for len(up.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("mx-a never delivered mx-b's message\nmx-a:\n%s", a.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
