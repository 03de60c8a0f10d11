package admin_test

import (
	"testing"

	"github.com/holdrelay/relay/admin"
)

func TestSelectorString(t *testing.T) {
	tests := []struct {
		sel   admin.Selector
		want  string
		empty bool
	}{
		{admin.Selector{}, "none", true},
		{admin.Selector{All: true}, "all", false},
		{admin.Selector{All: true, Credential: "shop"}, "credential=shop", false},
		{admin.Selector{IDs: []string{"a", "b"}}, "ids=a,b", false},
		{admin.Selector{IDs: []string{"1", "2", "3", "4", "5", "6", "7"}}, "ids=1,2,3,4,5 (+2 more)", false},
		{admin.Selector{Credential: "billing", States: []string{"waiting", "held"}}, "credential=billing state=waiting,held", false},
		{admin.Selector{From: "@example.com", To: "ann@example.org", OlderThan: "1h", NewerThan: "2h"},
			"from=@example.com to=ann@example.org older-than=1h newer-than=2h", false},
	}
	for _, tt := range tests {
		if got := tt.sel.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.sel, got, tt.want)
		}
		if got := tt.sel.Empty(); got != tt.empty {
			t.Errorf("%+v.Empty() = %v, want %v", tt.sel, got, tt.empty)
		}
	}
}

func TestSelectorQuery(t *testing.T) {
	sel := admin.Selector{IDs: []string{"x"}, All: true, Credential: "shop", From: "a@b.c", To: "@d.e",
		States: []string{"waiting", "held"}, OlderThan: "1h", NewerThan: "2h"}
	want := "all=true&credential=shop&from=a%40b.c&newer_than=2h&older_than=1h&state=waiting%2Cheld&to=%40d.e"
	if got := sel.Query().Encode(); got != want {
		t.Errorf("Query = %s, want %s (IDs left out)", got, want)
	}
	if got := (admin.Selector{}).Query().Encode(); got != "" {
		t.Errorf("empty selector's query = %q", got)
	}
}
