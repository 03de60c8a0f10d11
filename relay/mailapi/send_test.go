package mailapi

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// The request of SendGrid's Mail Send reference, "Send a single email".
const simple = `{
  "personalizations": [{"to": [{"email": "john.doe@example.com", "name": "John Doe"}], "subject": "Hello, World!"}],
  "content": [{"type": "text/plain", "value": "Heya!"}],
  "from": {"email": "sam.smith@example.com", "name": "Sam Smith"},
  "reply_to": {"email": "sam.smith@example.com", "name": "Sam Smith"}
}`

// parsed is a delivered message read back with net/mail.
func parseMail(t *testing.T, data []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v\n%s", err, data)
	}
	return m
}

func TestSendSimple(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	id := h.mustSend(simple)

	d, err := h.spool.Details(id)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != spool.Waiting || d.Credential != "app" || d.From != "sam.smith@example.com" ||
		d.Subject != "Hello, World!" || !d.Release.Equal(t0.Add(hold)) || d.MessageID == "" {
		t.Errorf("spooled %+v", d.Message)
	}
	if len(d.History) == 0 || d.History[0].Actor != "http" {
		t.Errorf("history %+v: want the accept by http", d.History)
	}
	if got := h.upstream.Messages(); len(got) != 0 {
		t.Fatalf("delivered during the hold: %d", len(got))
	}
	up := h.deliver(1)[0]
	if up.From != "sam.smith@example.com" || !slices.Equal(up.To, []string{"john.doe@example.com"}) {
		t.Errorf("envelope %s -> %v", up.From, up.To)
	}
	m := parseMail(t, up.Data)
	for k, want := range map[string]string{
		"From": `"Sam Smith" <sam.smith@example.com>`, "To": `"John Doe" <john.doe@example.com>`,
		"Reply-To": `"Sam Smith" <sam.smith@example.com>`, "Subject": "Hello, World!",
		"Mime-Version": "1.0", "Content-Transfer-Encoding": "quoted-printable",
		"Content-Type": "text/plain; charset=utf-8", "Message-Id": d.MessageID,
	} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if date, err := m.Header.Date(); err != nil || !date.Equal(t0) {
		t.Errorf("Date: %v, %v", date, err)
	}
	if !strings.HasPrefix(string(up.Data), "Received: from mail-api-client ([127.0.0.1])\r\n\tby relay.test (relay) with HTTP;") {
		t.Errorf("no trace header first:\n%s", up.Data)
	}
	body, _ := io.ReadAll(m.Body)
	if string(body) != "Heya!\r\n" {
		t.Errorf("body %q", body)
	}
}

// TestSendShapes sends the request shapes of SendGrid's documentation and
// checks what reaches the upstream after the hold.
func TestSendShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	pdf := []byte("%PDF-1.4 not really\x00\x01\x02")
	id := h.mustSend(`{
	  "personalizations": [
	    {"to": [{"email": "a@example.com"}], "cc": [{"email": "c@example.com", "name": "Zoë Ç"}],
	     "bcc": [{"email": "b@example.com"}], "subject": "For A", "custom_args": {"user": "1"},
	     "headers": {"X-Order": "42"}},
	    {"to": [{"email": "d@example.com"}, {"email": "e@example.com"}], "custom_args": {"user": "2"}}
	  ],
	  "from": {"email": "shop@example.com"},
	  "subject": "Your order — ünïcode",
	  "content": [{"type": "text/html", "value": "<p>Hi</p>"}, {"type": "text/plain", "value": "Hi"}],
	  "attachments": [{"content": "` + base64.StdEncoding.EncodeToString(pdf) + `", "type": "application/pdf", "filename": "invoice.pdf"}],
	  "categories": ["orders", "orders", "receipts"],
	  "custom_args": {"campaign": "dec", "user": "0"},
	  "headers": {"X-Shop": "main"},
	  "batch_id": "orders-2026-12"
	}`)
	ms := h.spooled()
	if len(ms) != 2 || ms[0].ID != id {
		t.Fatalf("spooled %d messages, first %v; want 2, first %v", len(ms), ms[0].ID, id)
	}
	a, b := ms[0], ms[1]
	if !slices.Equal(rcpts(a), []string{"a@example.com", "c@example.com", "b@example.com"}) ||
		!slices.Equal(rcpts(b), []string{"d@example.com", "e@example.com"}) {
		t.Errorf("envelopes %v, %v", rcpts(a), rcpts(b))
	}
	if a.Batch != "orders-2026-12" || !slices.Equal(a.Categories, []string{"orders", "receipts"}) ||
		a.UniqueArgs["campaign"] != "dec" || a.UniqueArgs["user"] != "1" || b.UniqueArgs["user"] != "2" {
		t.Errorf("metadata %q %q %v / %v", a.Batch, a.Categories, a.UniqueArgs, b.UniqueArgs)
	}
	if a.Subject != "For A" || b.Subject != "Your order — ünïcode" {
		t.Errorf("subjects %q, %q", a.Subject, b.Subject)
	}
	got := h.deliver(2)
	slices.SortFunc(got, func(x, y smtptest.Message) int { return strings.Compare(x.To[0], y.To[0]) })
	m := parseMail(t, got[0].Data)
	if m.Header.Get("Bcc") != "" || strings.Contains(string(got[0].Data), "b@example.com") {
		t.Errorf("the bcc shows in the message:\n%s", got[0].Data)
	}
	if cc, _ := m.Header.AddressList("Cc"); len(cc) != 1 || cc[0].Name != "Zoë Ç" {
		t.Errorf("Cc %v", cc)
	}
	if m.Header.Get("X-Order") != "42" || m.Header.Get("X-Shop") != "main" {
		t.Errorf("custom headers %q %q", m.Header.Get("X-Order"), m.Header.Get("X-Shop"))
	}
	parts := mimeParts(t, m)
	if len(parts) != 3 || parts[0].typ != "text/plain" || parts[0].body != "Hi\r\n" ||
		parts[1].typ != "text/html" || parts[1].body != "<p>Hi</p>\r\n" ||
		parts[2].typ != "application/pdf" || parts[2].body != string(pdf) || parts[2].filename != "invoice.pdf" {
		t.Errorf("parts %+v", parts)
	}
	second := parseMail(t, got[1].Data)
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(second.Header.Get("Subject")); err != nil || s != "Your order — ünïcode" {
		t.Errorf("Subject %q (%v)", s, err)
	}
}

func rcpts(m spool.Message) []string {
	var out []string
	for _, r := range m.Rcpts {
		out = append(out, r.Addr)
	}
	return out
}

type part struct{ typ, filename, body string }

// mimeParts flattens a message's MIME tree into its leaves, decoded.
func mimeParts(t *testing.T, m *mail.Message) []part {
	t.Helper()
	return walk(t, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body)
}

func walk(t *testing.T, ctype, cte, disp string, r io.Reader) []part {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out []part
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, walk(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"),
				p.Header.Get("Content-Disposition"), p)...)
		}
	}
	switch cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedPrintable(r)
	}
	b, _ := io.ReadAll(r)
	_, dp, _ := mime.ParseMediaType(disp)
	return []part{{typ: mt, filename: dp["filename"], body: string(b)}}
}

func TestSendAtAndSandbox(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	at := t0.Add(2 * time.Hour)
	id := h.mustSend(strings.Replace(simple, `"subject": "Hello, World!"`,
		`"subject": "Later", "send_at": `+itoa(at.Unix()), 1))
	m, _ := h.spool.Get(id)
	if !m.Release.Equal(at) || !m.SendAt.Equal(at) {
		t.Errorf("release %v, send_at %v; want %v", m.Release, m.SendAt, at)
	}
	h.clock.Advance(hold + time.Second)
	h.upstream.WaitIdle(t)
	if n := len(h.upstream.Messages()); n != 0 {
		t.Fatalf("%d delivered before send_at", n)
	}
	h.clock.Set(at)
	if up := h.upstream.Wait(t, 1); parseMail(t, up[0].Data).Header.Get("Subject") != "Later" {
		t.Errorf("delivered %s", up[0].Data)
	}

	// Sandbox mode: 200 with no body, and nothing more in the spool.
	r := h.send(strings.Replace(simple, `"content"`, `"mail_settings": {"sandbox_mode": {"enable": true}}, "content"`, 1))
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("sandbox: %d %q; want 200 and no body", r.status, r.body)
	}
	if n := len(h.spooled()); n != 1 {
		t.Errorf("sandbox spooled something: %d messages", n)
	}
	// Sandbox validates as fully as a send does.
	r = h.send(`{"mail_settings": {"sandbox_mode": {"enable": true}}, "personalizations": [{"to": [{"email": "x@example.com"}]}]}`)
	if r.status != http.StatusBadRequest || len(r.errors(t)) < 2 {
		t.Errorf("sandbox of a bad request: %d %s", r.status, r.body)
	}
}

// TestGzipBody: SendGrid's clients may compress the body (Content-Encoding:
// gzip); relay inflates it, within the same bound.
func TestGzipBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(simple))
	zw.Close()
	for _, tc := range []struct {
		enc    string
		status int
	}{{"gzip", http.StatusAccepted}, {"br", http.StatusUnsupportedMediaType}} {
		req, _ := http.NewRequest("POST", h.url+"/v3/mail/send", bytes.NewReader(z.Bytes()))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Encoding", tc.enc)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("Content-Encoding %s: %d, want %d", tc.enc, res.StatusCode, tc.status)
		}
	}
	if ms := h.spooled(); len(ms) != 1 || ms[0].Subject != "Hello, World!" {
		t.Errorf("spooled %+v", ms)
	}
}
