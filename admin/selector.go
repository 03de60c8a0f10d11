package admin

import (
	"fmt"
	"net/url"
	"strings"
)

// Selector picks messages, the same way on every endpoint that takes one.
// Criteria combine with AND. Durations are Go duration text, measured
// back from relayd's clock, not the client's: "older_than":"1h" selects
// messages received more than an hour before relayd handles the request.
type Selector struct {
	IDs        []string `json:"ids,omitempty"` // message IDs, 13 characters each
	All        bool     `json:"all,omitempty"` // every message: changes refuse an empty selector without it
	Credential string   `json:"credential,omitempty"`
	From       string   `json:"from,omitempty"`   // sender address, or @domain
	To         string   `json:"to,omitempty"`     // any recipient's address, or @domain
	States     []string `json:"states,omitempty"` // any of these, named as in States
	OlderThan  string   `json:"older_than,omitempty"`
	NewerThan  string   `json:"newer_than,omitempty"`
	Batch      string   `json:"batch,omitempty"`    // batch ID (X-SMTPAPI batch_id or X-Relay-Batch)
	Category   string   `json:"category,omitempty"` // one of the message's X-SMTPAPI categories
}

// Empty reports whether s names no message at all: no IDs, no criteria,
// and not All. Changes refuse it.
func (s Selector) Empty() bool {
	return !s.All && !s.hasCriteria()
}

func (s Selector) hasCriteria() bool {
	return len(s.IDs) > 0 || s.Credential != "" || s.From != "" || s.To != "" ||
		len(s.States) > 0 || s.OlderThan != "" || s.NewerThan != "" || s.Batch != "" || s.Category != ""
}

// maxShownIDs bounds the IDs String spells out: an audit entry for a drop
// of ten thousand IDs names the first few and counts the rest.
const maxShownIDs = 5

// String renders s for people and the audit log, in relayctl's flag
// names: "credential=billing state=waiting,held", "ids=a,b", "all".
// All adds nothing to other criteria, so it shows only alone.
func (s Selector) String() string {
	if !s.hasCriteria() {
		if s.All {
			return "all"
		}
		return "none"
	}
	var parts []string
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+"="+value)
		}
	}
	ids := strings.Join(s.IDs[:min(len(s.IDs), maxShownIDs)], ",")
	if n := len(s.IDs) - maxShownIDs; n > 0 {
		ids += fmt.Sprintf(" (+%d more)", n)
	}
	add("ids", ids)
	add("credential", s.Credential)
	add("from", s.From)
	add("to", s.To)
	add("state", strings.Join(s.States, ","))
	add("older-than", s.OlderThan)
	add("newer-than", s.NewerThan)
	add("batch", s.Batch)
	add("category", s.Category)
	return strings.Join(parts, " ")
}

// Query encodes s's criteria as the query of GET /v1/messages, which
// lists by criteria only: IDs are left out.
func (s Selector) Query() url.Values {
	q := url.Values{}
	set := func(name, value string) {
		if value != "" {
			q.Set(name, value)
		}
	}
	if s.All {
		q.Set("all", "true")
	}
	set("credential", s.Credential)
	set("from", s.From)
	set("to", s.To)
	set("state", strings.Join(s.States, ","))
	set("older_than", s.OlderThan)
	set("newer_than", s.NewerThan)
	set("batch", s.Batch)
	set("category", s.Category)
	return q
}
