package spool

import (
	"bytes"
	"slices"
	"strings"
	"time"
)

// Selector picks messages, the same way on every command that takes one.
// Criteria combine with AND; a message matches an empty criterion.
type Selector struct {
	IDs        []ID
	All        bool   // explicitly every message (an empty selector matches nothing in bulk actions)
	Credential string // exact name
	From       string // sender address, or @domain
	To         string // any recipient's address, or @domain
	States     []State
	OlderThan  time.Time // received before
	NewerThan  time.Time // received after
	Batch      string    // exact batch ID
	Category   string    // one of the message's categories, exactly
}

// Empty reports whether the selector names no messages at all: bulk
// actions refuse it unless All is set.
func (s Selector) Empty() bool {
	return len(s.IDs) == 0 && !s.All && s.Credential == "" && s.From == "" && s.To == "" &&
		len(s.States) == 0 && s.OlderThan.IsZero() && s.NewerThan.IsZero() && s.Batch == "" && s.Category == ""
}

// Match reports whether m meets every criterion but IDs.
func (s Selector) Match(m *Message) bool {
	switch {
	case s.Credential != "" && m.Credential != s.Credential:
		return false
	case len(s.States) > 0 && !slices.Contains(s.States, m.State):
		return false
	case s.Batch != "" && m.Batch != s.Batch:
		return false
	case s.Category != "" && !slices.Contains(m.Categories, s.Category):
		return false
	case !s.OlderThan.IsZero() && !m.Received.Before(s.OlderThan):
		return false
	case !s.NewerThan.IsZero() && !m.Received.After(s.NewerThan):
		return false
	case s.From != "" && !addrMatch(s.From, m.From):
		return false
	}
	if s.To == "" {
		return true
	}
	for _, r := range m.Rcpts {
		if addrMatch(s.To, r.Addr) {
			return true
		}
	}
	return false
}

// addrMatch compares an address with a pattern: a whole address, or
// @domain for every address at that domain. Case does not matter (the
// local part is case-sensitive in theory only).
func addrMatch(pattern, addr string) bool {
	if strings.HasPrefix(pattern, "@") {
		return len(addr) >= len(pattern) && strings.EqualFold(addr[len(addr)-len(pattern):], pattern)
	}
	return strings.EqualFold(pattern, addr)
}

// candidates returns the IDs a selection must look at, from the cheapest
// index that covers it: the IDs themselves, the credential index, or the
// state index for the given states. The caller still checks each record.
func (t *txn) candidates(sel Selector, states []State) []ID {
	if len(sel.IDs) > 0 {
		return sel.IDs
	}
	if len(sel.States) > 0 {
		var keep []State
		for _, st := range states {
			if slices.Contains(sel.States, st) {
				keep = append(keep, st)
			}
		}
		states = keep
	}
	var ids []ID
	if b, prefix := t.groupPrefix(sel); b != nil {
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, idFromKey(k[len(prefix):]))
		}
		return ids
	}
	for _, st := range states {
		c := t.states.Cursor()
		for k, _ := c.Seek([]byte{byte(st)}); k != nil && k[0] == byte(st); k, _ = c.Next() {
			ids = append(ids, idFromKey(k[1:]))
		}
	}
	return ids
}
