package console

import (
	"net/url"
	"strings"

	"github.com/holdrelay/relay/admin"
)

// filterFields are the selector's criteria as form fields, labelled as
// relayctl's flags are named (the contract's filter labels).
var filterFields = []struct{ Name, Label, Flag string }{
	{"credential", "Credential", "--credential"},
	{"from", "From", "--from"},
	{"to", "To", "--to"},
	{"state", "State", "--state"},
	{"older_than", "Older than", "--older-than"},
	{"newer_than", "Newer than", "--newer-than"},
	{"batch", "Batch", "--batch"},
	{"category", "Category", "--category"},
}

// selectorOf reads a filter from a query or form. Its values are checked
// by the admin API, which says what is wrong in its own words.
func selectorOf(v url.Values) admin.Selector {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	s := admin.Selector{Credential: get("credential"), From: get("from"), To: get("to"),
		OlderThan: get("older_than"), NewerThan: get("newer_than"), Batch: get("batch"), Category: get("category")}
	if st := get("state"); st != "" {
		for _, p := range strings.Split(st, ",") {
			if p = strings.TrimSpace(p); p != "" {
				s.States = append(s.States, p)
			}
		}
	}
	return s
}

// field is one filter field with its value, for the form.
type field struct{ Name, Label, Value string }

func fieldsOf(s admin.Selector) []field {
	q := s.Query()
	out := make([]field, 0, len(filterFields))
	for _, f := range filterFields {
		out = append(out, field{Name: f.Name, Label: f.Label, Value: q.Get(f.Name)})
	}
	return out
}

// command is the relayctl command that lists what the filter shows.
func command(verb string, s admin.Selector) string {
	q := s.Query()
	parts := []string{"relayctl", verb}
	for _, f := range filterFields {
		if v := q.Get(f.Name); v != "" {
			parts = append(parts, f.Flag, shellQuote(v))
		}
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.,_-+:/=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
