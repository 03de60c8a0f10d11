package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

func TestStatus(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	r.Accept(t, "shop")
	r.Accept(t, "shop")
	golden(t, "status.golden", mustRun(t, "--admin", r.Socket, "status"))
}

func TestStatusJSON(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	r.Accept(t, "shop")
	out := mustRun(t, "--admin", r.Socket, "status", "-o", "json")
	var st admin.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	if st.Counts["waiting"] != 1 || st.Counts["dropped"] != 0 || len(st.Counts) != 9 || st.Hold != "30s" || st.Unreadable == nil {
		t.Errorf("status = %+v", st)
	}
	// A relayd on its own spool file is the one node, seen as it answers.
	want := admin.Node{Name: "relay-test", Started: servertest.Now, LastSeen: servertest.Now, Version: "test", Alive: true, Self: true}
	if os.Getenv("RELAY_TEST_SPOOL") == "pg" && len(st.Nodes) == 1 {
		// A shared spool's node, as the database registered it.
		n := st.Nodes[0]
		want = admin.Node{Name: "t1", Boot: n.Boot, Started: n.Started, LastSeen: n.LastSeen, Lease: n.Lease, Alive: true, Self: true}
	}
	if len(st.Nodes) != 1 || st.Nodes[0] != want || !st.Now.Equal(servertest.Now) {
		t.Errorf("nodes = %+v at %v, want [%+v]", st.Nodes, st.Now, want)
	}
}

// The nodes of a shared spool: each with its state, how long ago relayd
// last saw it, and the one that answered marked.
func TestStatusNodes(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	st := admin.Status{Now: now, Nodes: []admin.Node{
		{Name: "mx-a", Started: now.Add(-time.Hour), LastSeen: now.Add(-2 * time.Second), Alive: true, Self: true},
		{Name: "mx-b", Started: now.Add(-72 * time.Hour), LastSeen: now.Add(-90 * time.Minute)},
		{Name: "mx-c\x1b[2J", Started: now.Add(-time.Minute), LastSeen: now.Add(time.Second), Alive: true},
	}}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	nodesTable(tw, st)
	tw.Flush()
	want := `
NODE              STATE  LAST SEEN  STARTED
mx-a (this node)  alive  2s ago     ` + when(now.Add(-time.Hour)) + `
mx-b              dead   1h ago     ` + when(now.Add(-72*time.Hour)) + `
mx-c [2J          alive  0s ago     ` + when(now.Add(-time.Minute)) + `
`
	if b.String() != want {
		t.Errorf("nodes table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s ago", 0: "0s ago", 1500 * time.Millisecond: "1s ago", 59 * time.Second: "59s ago",
		time.Minute: "1m ago", 59*time.Minute + 59*time.Second: "59m ago", 47 * time.Hour: "47h ago", 72 * time.Hour: "3d ago",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStatusOrder(t *testing.T) {
	got := stateOrder(map[string]int{"waiting": 1, "zapped": 2, "archived": 3})
	want := append(append([]string{}, admin.States...), "archived", "zapped")
	if len(got) != len(want) {
		t.Fatalf("stateOrder = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stateOrder = %v, want %v", got, want)
		}
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		"0s": "0s", "30s": "30s", "5m0s": "5m", "1m30s": "1m30s", "1h0m0s": "1h",
		"1h30m0s": "1h30m", "2h0m10s": "2h0m10s", "100ms": "100ms",
	} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
}
