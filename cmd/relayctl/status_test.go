package main

import (
	"encoding/json"
	"testing"

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
