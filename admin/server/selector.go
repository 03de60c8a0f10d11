package server

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

// maxPattern bounds --from and --to: an address is at most 320 bytes.
const maxPattern = 320

// spoolSelector turns a wire selector into the spool's. Durations count
// back from now, relayd's clock: the client's may be wrong or elsewhere.
// A bad value is a 400 that names it.
func spoolSelector(ws admin.Selector, now time.Time) (spool.Selector, error) {
	sel := spool.Selector{All: ws.All, Credential: ws.Credential, From: ws.From, To: ws.To, Batch: ws.Batch, Category: ws.Category}
	for _, text := range ws.IDs {
		id, err := spool.ParseID(text)
		if err != nil {
			return sel, invalid("%v", err)
		}
		sel.IDs = append(sel.IDs, id)
	}
	for _, name := range ws.States {
		st, err := spool.ParseState(name)
		if err != nil {
			return sel, invalid("%v", err)
		}
		sel.States = append(sel.States, st)
	}
	if ws.Credential != "" && !auth.ValidName(ws.Credential) {
		return sel, invalid("invalid credential name %q", ws.Credential)
	}
	if ws.Batch != "" && !smtpapi.ValidBatchID(ws.Batch) {
		return sel, invalid("invalid batch ID %q: 1 to %d letters, digits, '.', '_' or '-'", ws.Batch, smtpapi.MaxBatchID)
	}
	if ws.Category != "" && !smtpapi.ValidCategory(ws.Category) {
		return sel, invalid("invalid category %q", ws.Category)
	}
	for field, p := range map[string]string{"from": ws.From, "to": ws.To} {
		if err := checkPattern(field, p); err != nil {
			return sel, err
		}
	}
	var err error
	if sel.OlderThan, err = ago("older_than", ws.OlderThan, now); err != nil {
		return sel, err
	}
	if sel.NewerThan, err = ago("newer_than", ws.NewerThan, now); err != nil {
		return sel, err
	}
	return sel, nil
}

// checkPattern accepts an address or @domain, as --from and --to take.
func checkPattern(field, p string) error {
	if p == "" {
		return nil
	}
	bad := len(p) > maxPattern || !strings.Contains(p, "@") ||
		strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	if bad {
		return invalid("%s %q: want an address (name@example.com) or a domain (@example.com)", field, p)
	}
	return nil
}

// ago returns now minus the duration text d; zero time for "".
func ago(field, d string, now time.Time) (time.Time, error) {
	if d == "" {
		return time.Time{}, nil
	}
	v, err := time.ParseDuration(d)
	if err != nil || v < 0 {
		return time.Time{}, invalid("%s %q: want a duration such as 90s, 30m or 24h", field, d)
	}
	return now.Add(-v), nil
}

// selectorQuery reads the selector of GET /v1/messages, the inverse of
// admin.Selector.Query. Other parameters are refused, as unknown JSON
// fields are: a misspelt criterion must not list everything.
func selectorQuery(q url.Values, extra ...string) (admin.Selector, error) {
	known := append([]string{"all", "credential", "from", "to", "state", "older_than", "newer_than", "batch", "category"}, extra...)
	for name, values := range q {
		switch {
		case !slices.Contains(known, name):
			return admin.Selector{}, invalid("unknown query parameter %q", name)
		case len(values) > 1 && name != "state":
			return admin.Selector{}, invalid("query parameter %q given %d times", name, len(values))
		}
	}
	ws := admin.Selector{
		Credential: q.Get("credential"), From: q.Get("from"), To: q.Get("to"),
		OlderThan: q.Get("older_than"), NewerThan: q.Get("newer_than"),
		Batch: q.Get("batch"), Category: q.Get("category"),
	}
	if v := q.Get("all"); v != "" {
		all, err := strconv.ParseBool(v)
		if err != nil {
			return ws, invalid("all=%q: want true or false", v)
		}
		ws.All = all
	}
	for _, v := range q["state"] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				ws.States = append(ws.States, s)
			}
		}
	}
	return ws, nil
}

// intParam reads an optional positive integer query parameter, up to max.
func intParam(q url.Values, name string, def, max int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, invalid("%s=%q: want a number from 1 to %d", name, v, max)
	}
	return n, nil
}
