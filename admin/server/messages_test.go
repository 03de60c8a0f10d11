package server_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// tally is a dispatcher that counts what the server asks of it. Its
// Abort finishes the messages as a real dispatcher's cancelled attempt
// would: deferred, which a drop's intent turns into dropped.
type tally struct {
	sp *spool.Spool

	mu      sync.Mutex
	notify  int
	aborted []spool.ID
}

func (d *tally) Notify(time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notify++
}

func (d *tally) Abort(_ context.Context, ids []spool.ID) error {
	d.mu.Lock()
	d.aborted = append(d.aborted, ids...)
	d.mu.Unlock()
	for _, id := range ids {
		m, err := d.sp.Get(id)
		if err != nil {
			return err
		}
		_, err = d.sp.Finish(id, spool.Attempt{Rcpts: m.Rcpts, State: spool.Deferred, LastError: "cancelled",
			Retry: servertest.Now.Add(time.Minute), Now: servertest.Now})
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *tally) counts() (int, []spool.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.notify, slices.Clone(d.aborted)
}

func startTally(t *testing.T, o servertest.Options) (*servertest.Relay, *tally) {
	d := &tally{}
	o.Dispatcher = func(p servertest.Parts) server.Dispatcher {
		d.sp = p.Spool
		return d
	}
	return servertest.Start(t, o), d
}

// TestDispatcherDriven: changes that may make mail due wake the
// dispatcher; those that only stop mail, and dry runs, do not. A drop
// of a message being sent waits for Abort and reports its outcome.
func TestDispatcherDriven(t *testing.T) {
	r, d := startTally(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	id := r.Accept(t, "shop").ID.String()
	sel := admin.Selector{IDs: []string{id}}

	steps := []struct {
		name   string
		call   func() error
		notify int // total so far
	}{
		{"dry flush", func() error { _, err := c.Flush(ctx, admin.ActionRequest{Selector: sel, DryRun: true}); return err }, 0},
		{"hold", func() error { _, err := c.Hold(ctx, admin.ActionRequest{Selector: sel}); return err }, 0},
		{"release", func() error { _, err := c.Release(ctx, admin.ActionRequest{Selector: sel}); return err }, 1},
		{"flush", func() error { _, err := c.Flush(ctx, admin.ActionRequest{Selector: sel}); return err }, 2},
		{"pause", func() error { _, err := c.Pause(ctx, admin.PauseRequest{}); return err }, 3},
		{"resume", func() error { _, err := c.Resume(ctx, admin.ResumeRequest{}); return err }, 4},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n, _ := d.counts(); n != s.notify {
			t.Errorf("after %s: %d notifications, want %d", s.name, n, s.notify)
		}
	}

	// The flush made it due: claim it, as the dispatcher would.
	claimed, err := r.Spool.Claim(servertest.Now, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim = %v, %v", claimed, err)
	}
	res, err := c.Drop(ctx, admin.ActionRequest{Selector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if _, aborted := d.counts(); !slices.Equal(aborted, []spool.ID{claimed[0].ID}) {
		t.Errorf("aborted %v, want the message in flight", aborted)
	}
	if res.Counts[admin.OutcomeChanged] != 1 || res.Counts[admin.OutcomeInFlight] != 0 || !slices.Equal(res.IDs["changed"], []string{id}) {
		t.Errorf("drop of a message in flight: %+v", res)
	}
	if n, _ := d.counts(); n != 4 {
		t.Errorf("drop notified the dispatcher: %d", n)
	}
}

func TestActionResult(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	id := r.Accept(t, "shop").ID.String()
	res, err := c.Hold(t.Context(), admin.ActionRequest{Selector: admin.Selector{IDs: []string{id, "0000000000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]int{"changed": 1, "in_flight": 0, "delivered": 0, "finished": 0, "unchanged": 0, "not_found": 1}
	if res.Action != "hold" || res.DryRun || len(res.Counts) != len(wantCounts) {
		t.Errorf("result = %+v", res)
	}
	for o, n := range wantCounts {
		if got, ok := res.Counts[o]; !ok || got != n {
			t.Errorf("counts[%s] = %d, %v; want %d", o, got, ok, n)
		}
	}
	if len(res.IDs) != 2 || !slices.Equal(res.IDs["changed"], []string{id}) || !slices.Equal(res.IDs["not_found"], []string{"0000000000001"}) {
		t.Errorf("IDs = %v", res.IDs)
	}
}

// TestActionResultCountsOnly: asked for counts only, the answer has every
// count but only not_found's IDs, which relayctl's exit status needs.
func TestActionResultCountsOnly(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	id := r.Accept(t, "shop").ID.String()
	res, err := c.Hold(t.Context(), admin.ActionRequest{Selector: admin.Selector{IDs: []string{id, "0000000000001"}}, CountsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts["changed"] != 1 || res.Counts["not_found"] != 1 || len(res.IDs) != 1 ||
		!slices.Equal(res.IDs["not_found"], []string{"0000000000001"}) {
		t.Errorf("result = %+v", res)
	}
}

// TestSelectorRefusals: every bad selector is a 400 that names what was
// wrong, and changes nothing.
func TestSelectorRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	id := r.Accept(t, "shop").ID
	tests := []struct {
		name string
		sel  admin.Selector
		msg  string
	}{
		{"empty", admin.Selector{}, "no messages selected"},
		{"bad ID", admin.Selector{IDs: []string{id.String(), "0c5v3k2s8f9g"}}, `invalid message ID "0c5v3k2s8f9g": want 13 characters`},
		{"bad state", admin.Selector{All: true, States: []string{"lost"}}, `unknown state "lost"`},
		{"bad duration", admin.Selector{OlderThan: "soon"}, `older_than "soon"`},
		{"negative duration", admin.Selector{NewerThan: "-1h"}, `newer_than "-1h"`},
		{"bad from", admin.Selector{From: "nobody"}, `from "nobody": want an address`},
		{"bad to", admin.Selector{To: "a b@c.d"}, `to "a b@c.d"`},
		{"bad credential", admin.Selector{Credential: "Shop!"}, `invalid credential name "Shop!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Drop(t.Context(), admin.ActionRequest{Selector: tt.sel})
			if ae := apiError(t, err, 400, admin.CodeInvalid); !strings.Contains(ae.Message, tt.msg) {
				t.Errorf("message %q, want %q", ae.Message, tt.msg)
			}
		})
	}
	if m, _ := r.Spool.Get(id); m.State != spool.Waiting {
		t.Errorf("message is %s after refusals", m.State)
	}
	if entries, _ := r.Spool.Audit(0, 10); len(entries) != 0 {
		t.Errorf("refusals were audited: %+v", entries)
	}
	_, err := c.Hold(t.Context(), admin.ActionRequest{Selector: admin.Selector{All: true}, Reason: strings.Repeat("x", 300)})
	apiError(t, err, 400, admin.CodeInvalid)
}

func TestListRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	for _, q := range []string{"?stat=held", "?limit=0", "?limit=1001", "?limit=x", "?cursor=nope", "?all=maybe",
		"?credential=a&credential=b", "?state=held&state=lost"} {
		resp, body := raw(t, r, "GET", "/v1/messages"+q, "")
		if resp.StatusCode != 400 || !strings.Contains(body, `"invalid"`) {
			t.Errorf("GET /v1/messages%s: %d %s", q, resp.StatusCode, body)
		}
	}
	resp, body := raw(t, r, "GET", "/v1/messages?state=held&state=waiting,queued&limit=1000", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"messages": []`) {
		t.Errorf("good query: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"?limit=0", "?before=x", "?before=0", "?after=1"} {
		if resp, body := raw(t, r, "GET", "/v1/audit"+q, ""); resp.StatusCode != 400 {
			t.Errorf("GET /v1/audit%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestRaw(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	m := r.Accept(t, "shop")
	id := m.ID.String()

	var buf bytes.Buffer
	if err := c.Raw(t.Context(), id, &buf); err != nil || buf.String() != "Subject: hello\r\n\r\nhi\r\n" {
		t.Errorf("Raw = %q, %v", buf.String(), err)
	}
	resp, _ := raw(t, r, "GET", "/v1/messages/"+id+"/raw", "")
	if ct := resp.Header.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("Content-Type = %q", ct)
	}

	if _, err := c.Drop(t.Context(), admin.ActionRequest{Selector: admin.Selector{IDs: []string{id}}}); err != nil {
		t.Fatal(err)
	}
	ae := apiError(t, c.Raw(t.Context(), id, &buf), http.StatusGone, admin.CodeGone)
	if ae.Message != "message "+id+" is dropped: its body is no longer kept" {
		t.Errorf("410 message = %q", ae.Message)
	}
	apiError(t, c.Raw(t.Context(), "0000000000001", &buf), 404, admin.CodeNotFound)
	apiError(t, c.Raw(t.Context(), "x", &buf), 400, admin.CodeInvalid)
	d, err := c.Message(t.Context(), id)
	if err != nil || d.State != "dropped" || d.Finished == nil || len(d.History) != 2 || d.History[1].Actor == "" {
		t.Errorf("details of a dropped message = %+v, %v", d, err)
	}
}

// TestSupportRole checks every change endpoint with a support token:
// hold, drop and purge work; the others are refused and not audited.
func TestSupportRole(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	id := r.Accept(t, "shop").ID.String()
	sup := client(t, "http://"+r.TCP, supportSecret)
	ctx := t.Context()
	one := admin.ActionRequest{Selector: admin.Selector{IDs: []string{id}}}

	refused := map[string]func() error{
		"flush":   func() error { _, err := sup.Flush(ctx, one); return err },
		"release": func() error { _, err := sup.Release(ctx, one); return err },
		"pause":   func() error { _, err := sup.Pause(ctx, admin.PauseRequest{Credential: "shop"}); return err },
		"resume":  func() error { _, err := sup.Resume(ctx, admin.ResumeRequest{}); return err },
		"credential add": func() error {
			_, err := sup.AddCredential(ctx, admin.AddCredentialRequest{Name: "x"})
			return err
		},
	}
	for name, call := range refused {
		if ae := apiError(t, call(), 403, admin.CodeForbidden); !strings.Contains(ae.Message, "needs the operator role") {
			t.Errorf("%s: %q", name, ae.Message)
		}
	}
	if entries, _ := r.Spool.Audit(0, 10); len(entries) != 0 {
		t.Errorf("refused changes were audited: %+v", entries)
	}
	if _, err := sup.Hold(ctx, one); err != nil {
		t.Errorf("support hold: %v", err)
	}
	if _, err := sup.Drop(ctx, one); err != nil {
		t.Errorf("support drop: %v", err)
	}
	if _, err := sup.Purge(ctx, admin.ActionRequest{}); err != nil {
		t.Errorf("support purge: %v", err)
	}
	entries, err := r.Spool.Audit(0, 10)
	if err != nil || len(entries) != 3 || entries[0].Action != "purge" || entries[0].Selector != "all" || entries[0].Actor != "token:helpdesk" {
		t.Errorf("audit = %+v, %v", entries, err)
	}
}

func TestPauseRequests(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	_, err := c.Pause(ctx, admin.PauseRequest{Credential: "nobody"})
	apiError(t, err, 404, admin.CodeNotFound)
	for _, d := range []string{"0s", "-1m", "soon"} {
		_, err := c.Pause(ctx, admin.PauseRequest{For: d})
		apiError(t, err, 400, admin.CodeInvalid)
	}
	_, err = c.Resume(ctx, admin.ResumeRequest{})
	if ae := apiError(t, err, 404, admin.CodeNotFound); !strings.HasPrefix(ae.Message, "no such pause") {
		t.Errorf("resume without a pause: %q", ae.Message)
	}
	if p, _ := r.Spool.Pauses(); len(p) != 0 {
		t.Errorf("refused pauses were recorded: %+v", p)
	}

	r.Accept(t, "")
	res, err := c.Pause(ctx, admin.PauseRequest{For: "90m", Reason: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	until := servertest.Now.Add(90 * time.Minute)
	if res.Held != 1 || res.Pause.Until == nil || !res.Pause.Until.Equal(until) || !res.Pause.Since.Equal(servertest.Now) ||
		res.Pause.Reason != "maintenance" || !strings.HasPrefix(res.Pause.Actor, "uid:") {
		t.Errorf("pause = %+v", res)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Pauses) != 1 || st.Pauses[0].Credential != "" || st.Pauses[0].Until == nil ||
		!st.Pauses[0].Until.Equal(until) || st.Pauses[0].Reason != "maintenance" {
		t.Errorf("status pauses = %+v, %v", st.Pauses, err)
	}
}
