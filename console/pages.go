package console

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/holdrelay/relay/admin"
)

// queueData is the queue page.
type queueData struct {
	Counts   []stateCount
	Total    int
	Pauses   []admin.Pause
	Fields   []field
	Selector admin.Selector
	Hidden   []field // the filter again, for the bulk action form
	Command  string
	Messages []admin.Message
	Next     template.URL // the next page; "" on the last
	Filtered bool
}

type stateCount struct {
	State string
	N     int
}

// queue shows counts per state and one page of the filtered list, newest
// first. It reads counters and one page of an index: never a full scan.
func (c *Console) queue(w http.ResponseWriter, r *http.Request) {
	ctx, cl := r.Context(), c.client(sessionOf(r))
	st, err := cl.Status(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sel := selectorOf(r.URL.Query())
	list, err := cl.ListMessages(ctx, admin.ListRequest{Selector: sel, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := queueData{Pauses: st.Pauses, Fields: fieldsOf(sel), Selector: sel, Command: command("queue ls", sel),
		Messages: list.Messages, Filtered: !sel.Empty()}
	d.Hidden = d.Fields
	for _, s := range []string{"waiting", "held", "queued", "sending", "deferred", "delivered", "failed", "dropped", "maybe_delivered"} {
		if n, ok := st.Counts[s]; ok {
			d.Counts = append(d.Counts, stateCount{State: s, N: n})
			d.Total += n
		}
	}
	if list.NextCursor != "" {
		q := sel.Query()
		q.Set("cursor", list.NextCursor)
		d.Next = template.URL("/?" + q.Encode()) // an encoded query: nothing to escape
	}
	c.render(w, r, http.StatusOK, "queue", d)
}

// messageData is the message page.
type messageData struct {
	admin.MessageDetails
	Text     string
	HasHTML  bool
	BodyNote string // why no body is shown
}

func (c *Console) message(w http.ResponseWriter, r *http.Request) {
	ctx, cl, id := r.Context(), c.client(sessionOf(r)), r.PathValue("id")
	d, err := cl.Message(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	md := messageData{MessageDetails: d}
	var raw bytes.Buffer
	if err := cl.Raw(ctx, id, &raw); err != nil {
		md.BodyNote = "No body: " + err.Error()
	} else {
		b := parseBody(raw.Bytes())
		md.Text, md.HasHTML = b.text, b.html != ""
		if b.err != nil {
			md.BodyNote = "The body could not be read whole: " + b.err.Error()
		}
	}
	c.render(w, r, http.StatusOK, "message", md)
}

// raw serves the message as received, as a download: never rendered.
func (c *Console) raw(w http.ResponseWriter, r *http.Request) {
	var raw bytes.Buffer
	id := r.PathValue("id")
	if err := c.client(sessionOf(r)).Raw(r.Context(), id, &raw); err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", `attachment; filename="`+url.PathEscape(id)+`.eml"`)
	w.Write(raw.Bytes())
}

// preview serves a message's HTML body for the sandboxed iframe, under
// previewCSP: no script runs and no URL loads.
func (c *Console) preview(w http.ResponseWriter, r *http.Request) {
	var raw bytes.Buffer
	if err := c.client(sessionOf(r)).Raw(r.Context(), r.PathValue("id"), &raw); err != nil {
		c.fail(w, r, err)
		return
	}
	b := parseBody(raw.Bytes())
	h := w.Header()
	h.Set("Content-Security-Policy", previewCSP)
	// A <link rel=dns-prefetch> in the message would still leak a DNS
	// lookup past the CSP in browsers that prefetch.
	h.Set("X-DNS-Prefetch-Control", "off")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.html))
}

// actions are the bulk controls, with the role the admin API asks for
// (the page hides what the role cannot do; the API refuses it anyway).
var actions = map[string]struct {
	Label         string
	Operator      bool
	NeedsReason   bool
	EmptyMeansAll bool
}{
	"flush":   {"Flush", true, false, false},
	"hold":    {"Hold", false, false, false},
	"release": {"Release", true, false, false},
	"drop":    {"Drop", false, true, false},
	"purge":   {"Purge", false, true, true},
}

type confirmData struct {
	Action, Label, Reason, Selector, Command string
	Hidden                                   []field
	N                                        int
	NeedsReason                              bool
	Error                                    string
}

// act runs a bulk action: first as a dry run, counted by relayd, which
// the person confirms; then for real.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("action")
	a, ok := actions[name]
	if !ok {
		c.render(w, r, http.StatusBadRequest, "error", errorPage{Title: "Bad input", Message: "No such action " + strconv.Quote(name) + ". Nothing was changed."})
		return
	}
	sel := selectorOf(r.PostForm)
	if sel.Empty() && a.EmptyMeansAll {
		sel.All = true
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	req := admin.ActionRequest{Selector: sel, Reason: reason, DryRun: r.PostFormValue("confirm") != "yes"}
	d := confirmData{Action: name, Label: a.Label, Reason: reason, Selector: sel.String(), Hidden: fieldsOf(sel),
		NeedsReason: a.NeedsReason, Command: actionCommand(name, sel, reason)}
	if !req.DryRun && a.NeedsReason && reason == "" {
		req.DryRun, d.Error = true, a.Label+" needs a reason: say why, for the audit log. Nothing was changed."
	}
	res, err := c.do(r, name, req)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if req.DryRun {
		d.N = res.Counts[admin.OutcomeChanged] + res.Counts[admin.OutcomeMaybeDelivered] + res.Counts[admin.OutcomeInFlight]
		status := http.StatusOK
		if d.Error != "" {
			status = http.StatusBadRequest
		}
		c.render(w, r, status, "confirm", d)
		return
	}
	c.render(w, r, http.StatusOK, "result", resultData{Label: a.Label, Selector: d.Selector, Result: res, Outcomes: outcomesOf(res)})
}

func (c *Console) do(r *http.Request, action string, req admin.ActionRequest) (admin.ActionResult, error) {
	cl, ctx := c.client(sessionOf(r)), r.Context()
	switch action {
	case "flush":
		return cl.Flush(ctx, req)
	case "hold":
		return cl.Hold(ctx, req)
	case "release":
		return cl.Release(ctx, req)
	case "drop":
		return cl.Drop(ctx, req)
	}
	return cl.Purge(ctx, req)
}

func actionCommand(action string, sel admin.Selector, reason string) string {
	cmd := command(action, sel)
	if sel.All && action != "purge" {
		cmd += " --all"
	}
	if reason != "" {
		cmd += " --reason " + shellQuote(reason)
	}
	return cmd
}

type resultData struct {
	Label, Selector string
	Result          admin.ActionResult
	Outcomes        []outcome
}

type outcome struct {
	Name string
	N    int
}

func outcomesOf(res admin.ActionResult) []outcome {
	var out []outcome
	for _, o := range admin.Outcomes {
		if n := res.Counts[o]; n > 0 {
			out = append(out, outcome{o, n})
		}
	}
	return out
}

// pause and resume stop and restart delivery for a credential or all.
func (c *Console) pause(w http.ResponseWriter, r *http.Request) {
	req := admin.PauseRequest{Credential: r.PostFormValue("credential"), For: r.PostFormValue("for"), Reason: r.PostFormValue("reason")}
	if _, err := c.client(sessionOf(r)).Pause(r.Context(), req); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) resume(w http.ResponseWriter, r *http.Request) {
	req := admin.ResumeRequest{Credential: r.PostFormValue("credential"), Reason: r.PostFormValue("reason")}
	if _, err := c.client(sessionOf(r)).Resume(r.Context(), req); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type auditData struct {
	Entries []admin.AuditEntry
	Next    uint64
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request) {
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
	list, err := c.client(sessionOf(r)).Audit(r.Context(), 50, before)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "audit", auditData{Entries: list.Entries, Next: list.NextBefore})
}

func (c *Console) credentials(w http.ResponseWriter, r *http.Request) {
	list, err := c.client(sessionOf(r)).Credentials(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "credentials", list)
}

// rotate gives a credential a new password, shown this once. Support may
// not: the admin API refuses, whatever the form says.
func (c *Console) rotate(w http.ResponseWriter, r *http.Request) {
	res, err := c.client(sessionOf(r)).RotatePassword(r.Context(), r.PathValue("name"), admin.RotateRequest{})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "rotated", res)
}
