package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// TestQueueList lists a spool with a message in each common state; the
// waiting ones count down on relayd's clock, not this machine's.
func TestQueueList(t *testing.T) {
	rd := startRelayd(t)
	rd.send(t, "shop", "Your order")
	rd.send(t, "shop", "Your invoice, with a subject long enough to be cut short in the table",
		"a@example.org", "b@example.org", "c@example.org")
	delivered := rd.send(t, "billing", "Paid")
	held := rd.send(t, "billing", "Reminder")
	mustRun(t, "--admin", rd.Socket, "flush", delivered)
	mustRun(t, "--admin", rd.Socket, "hold", held, "--reason", "check the template")
	rd.waitState(t, delivered, spool.Delivered)
	rd.Clock.Advance(5 * time.Second)

	out := mustRun(t, "--admin", rd.Socket, "queue", "ls")
	golden(t, "queue-ls.golden", out)
	if n := strings.Count(out, "in 25s"); n != 2 {
		t.Errorf("%d countdowns of 25s, want 2:\n%s", n, out)
	}
}

func TestQueueListEmpty(t *testing.T) {
	rd := startRelayd(t)
	if out := mustRun(t, "--admin", rd.Socket, "queue", "ls"); out != "No messages.\n" {
		t.Errorf("empty spool: %q", out)
	}
	var list admin.MessageList
	out := mustRun(t, "--admin", rd.Socket, "queue", "ls", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Messages == nil || list.NextCursor != "" {
		t.Errorf("empty JSON list: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"messages": []`) {
		t.Errorf("messages is not an empty array:\n%s", out)
	}
}

// TestQueueListPages walks the spool a page at a time, following the
// hint each page prints on stderr, and gets every message once, newest
// first.
func TestQueueListPages(t *testing.T) {
	rd := startRelayd(t)
	var sent []string
	for range 5 {
		sent = append(sent, rd.send(t, "shop", "page"))
	}
	slices.Reverse(sent) // newest first
	hint := regexp.MustCompile(`^\(more: relayctl queue ls --admin \S+ --limit 2 --state waiting --cursor (\w{13})\)\n$`)

	var got []string
	args := []string{"--admin", rd.Socket, "queue", "ls", "--limit", "2", "--state", "waiting"}
	for page := 1; ; page++ {
		out, errOut, code := relayctl(t, args...)
		if code != 0 {
			t.Fatalf("page %d: exit %d: %s", page, code, errOut)
		}
		rows := strings.Split(strings.TrimSpace(out), "\n")[1:]
		for _, row := range rows {
			got = append(got, strings.Fields(row)[0])
		}
		if errOut == "" {
			if page != 3 || len(rows) != 1 {
				t.Errorf("last page is page %d with %d rows, want page 3 with 1", page, len(rows))
			}
			break
		}
		m := hint.FindStringSubmatch(errOut)
		if m == nil || len(rows) != 2 {
			t.Fatalf("page %d: %d rows, stderr %q; want 2 rows and a hint matching %s", page, len(rows), errOut, hint)
		}
		if page == 3 {
			t.Fatal("a hint after the last message")
		}
		args = append(args[:8:8], "--cursor", m[1])
	}
	if !slices.Equal(got, sent) {
		t.Errorf("paged through %v, want %v", got, sent)
	}

	// JSON gives the cursor in the answer, and no hint.
	out, errOut, _ := relayctl(t, "--admin", rd.Socket, "queue", "ls", "--limit", "4", "-o", "json")
	var list admin.MessageList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Messages) != 4 || list.NextCursor != sent[3] || errOut != "" {
		t.Errorf("JSON page: %v, %d messages, next %q, stderr %q", err, len(list.Messages), list.NextCursor, errOut)
	}
}

// TestSelectors: each selector flag picks exactly the messages it names.
func TestSelectors(t *testing.T) {
	rd := startRelayd(t)
	old := rd.send(t, "shop", "old", "ann@example.org")
	rd.Clock.Advance(20 * time.Second) // less than the hold window: nothing is sent

	shop := rd.send(t, "shop", "to two", "bob@example.org", "ann@example.net")
	bill := rd.send(t, "billing", "invoice", "bob@example.org")
	held := rd.send(t, "billing", "held", "carl@example.com")
	mustRun(t, "--admin", rd.Socket, "hold", held)

	tests := []struct {
		args []string
		want []string // newest first
	}{
		{nil, []string{held, bill, shop, old}},
		{[]string{"--all"}, []string{held, bill, shop, old}},
		{[]string{"--credential", "shop"}, []string{shop, old}},
		{[]string{"--from", "billing@example.com"}, []string{held, bill}},
		{[]string{"--from", "@EXAMPLE.com"}, []string{held, bill, shop, old}},
		{[]string{"--to", "bob@example.org"}, []string{bill, shop}},
		{[]string{"--to", "@example.net"}, []string{shop}},
		{[]string{"--to", "@example.org"}, []string{bill, shop, old}},
		{[]string{"--state", "held"}, []string{held}},
		{[]string{"--state", "waiting", "--state", "held"}, []string{held, bill, shop, old}},
		{[]string{"--state", "held,delivered"}, []string{held}},
		{[]string{"--older-than", "10s"}, []string{old}},
		{[]string{"--newer-than", "10s"}, []string{held, bill, shop}},
		{[]string{"--credential", "billing", "--state", "waiting", "--to", "bob@example.org"}, []string{bill}},
		{[]string{"--credential", "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := mustRun(t, append([]string{"--admin", rd.Socket, "queue", "ls", "-o", "json"}, tt.args...)...)
			var list admin.MessageList
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range list.Messages {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueueShow(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "Your order", "ann@example.org", "bob@example.org")
	mustRun(t, "--admin", rd.Socket, "hold", id, "--reason", "looks odd")

	out := mustRun(t, "--admin", rd.Socket, "queue", "show", id)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^id: +` + id + `$`),
		regexp.MustCompile(`(?m)^state: +held$`),
		regexp.MustCompile(`(?m)^held by: +operator$`),
		regexp.MustCompile(`(?m)^reason: +looks odd$`),
		regexp.MustCompile(`(?m)^credential: +shop$`),
		regexp.MustCompile(`(?m)^from: +shop@example.com$`),
		regexp.MustCompile(`(?m)^to: +ann@example.org +pending$`),
		regexp.MustCompile(`(?m)^ +bob@example.org +pending$`),
		regexp.MustCompile(`(?m)^subject: +Your order$`),
		regexp.MustCompile(`(?m)^size: +\d+ bytes$`),
		regexp.MustCompile(`(?m)^received: +2025-03-04 05:06:07Z$`),
		regexp.MustCompile(`(?m)^attempts: +0$`),
		regexp.MustCompile(`(?m)^Subject: +Your order$`),
		regexp.MustCompile(`(?m)^2025-03-04 05:06:07Z +waiting +smtp +-$`),
		regexp.MustCompile(`(?m)^2025-03-04 05:06:07Z +held +uid:\d+ +looks odd$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("queue show lacks %s:\n%s", want, out)
		}
	}

	var d admin.MessageDetails
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "queue", "show", id, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != id || len(d.To) != 2 || len(d.History) != 2 || len(d.Headers) == 0 || d.HeldBy != "operator" {
		t.Errorf("JSON details = %+v", d)
	}
}

func TestQueueShowRaw(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "raw")
	sid, _ := spool.ParseID(id)
	body, err := rd.Spool.Body(sid)
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "--admin", rd.Socket, "queue", "show", id, "--raw"); out != string(body) {
		t.Errorf("--raw printed\n%q\nwant the body as spooled\n%q", out, body)
	}

	// A finished message keeps its record, not its body.
	mustRun(t, "--admin", rd.Socket, "drop", id)
	out, errOut, code := relayctl(t, "--admin", rd.Socket, "queue", "show", id, "--raw")
	if code != 1 || out != "" || errOut != "Error: message "+id+" is dropped: its body is no longer kept\n" {
		t.Errorf("--raw of a dropped message: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out := mustRun(t, "--admin", rd.Socket, "queue", "show", id); !regexp.MustCompile(`(?m)^state: +dropped$`).MatchString(out) {
		t.Errorf("show of a dropped message:\n%s", out)
	}
}

func TestQueueShowRefusals(t *testing.T) {
	rd := startRelayd(t)
	tests := []struct {
		id   string
		code int
		want string
	}{
		{"0000000000001", 1, `Error: no message 0000000000001 `},
		{"nope", 2, `Error: invalid message ID "nope": want 13 characters`},
	}
	for _, tt := range tests {
		for _, raw := range []string{"", "--raw"} {
			args := []string{"--admin", rd.Socket, "queue", "show", tt.id}
			if raw != "" {
				args = append(args, raw)
			}
			out, errOut, code := relayctl(t, args...)
			if code != tt.code || out != "" || !strings.HasPrefix(errOut, tt.want) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", args, code, out, errOut, tt.code, tt.want)
			}
		}
	}
}

func TestCountdown(t *testing.T) {
	for in, want := range map[string]string{
		"0s": "0s", "25s": "25s", "2m30s": "2m30s", "3m0s": "3m", "14m40s": "15m",
		"1h5m0s": "1h5m", "2h0m10s": "2h", "50h0m0s": "2d", "bogus": "bogus",
	} {
		if got := countdown(in); got != want {
			t.Errorf("countdown(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQueueShowMaybeDelivered: a message dropped after an attempt a crash
// cut short says it may have gone out, not that it was dropped.
func TestQueueShowMaybeDelivered(t *testing.T) {
	var b strings.Builder
	detailsTable(&b, admin.MessageDetails{Message: admin.Message{ID: "035azhg31g000", State: "maybe_delivered", Reason: "spam"}})
	if !strings.Contains(b.String(), "maybe_delivered (dropped, but an attempt a crash cut short may have reached the upstream") {
		t.Errorf("queue show:\n%s", b.String())
	}
}
