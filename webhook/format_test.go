package webhook_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/holdrelay/relay/webhook"
)

func TestStandardFormatSignedPerSpec(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	ep, secret := standard(t, "crm", rc.srv.URL)
	h.add(t, ep)
	d := message("m1", "a@example.org")
	d.Categories, d.UniqueArgs = []string{"orders"}, map[string]string{"order": "42"}
	e := h.out.add(webhook.MessageAccepted, t0.Add(-time.Second), d)

	r := rc.next(t)
	if err := verify(secret, r.header, r.body, h.clk.Now()); err != nil {
		t.Fatalf("signature does not verify: %v\nheaders %v", err, r.header)
	}
	if err := verify(secret, r.header, append(r.body, ' '), h.clk.Now()); err == nil {
		t.Fatal("the verifier accepts a changed body: the check above proves nothing")
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "relay-webhook/1",
		"Webhook-Timestamp": strconv.FormatInt(t0.Unix(), 10),
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 1 {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if got[0]["id"] != e.ID || got[0]["type"] != webhook.MessageAccepted ||
		got[0]["timestamp"] != "2026-12-02T08:59:59Z" {
		t.Errorf("event wire form %v", got[0])
	}
	data := got[0]["data"].(map[string]any)
	for _, k := range []string{"message_id", "credential", "from", "recipients", "subject",
		"message_id_header", "batch_id", "categories", "unique_args"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data lacks %q: %v", k, data)
		}
	}
}

func TestSendGridFormatSignedAsSendGridVerifies(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	key, pub, err := webhook.NewKey()
	if err != nil {
		t.Fatal(err)
	}

	acc := message("m1", "a@example.org", "b@example.org")
	acc.Categories = []string{"orders"}
	acc.UniqueArgs = map[string]string{"order": "42", "event": "spoof", "email": "spoof", "reason": "spoof"}
	h.out.add(webhook.CredentialAdded, t0, map[string]string{"name": "shop"}) // not in this format
	h.out.add(webhook.MessageAccepted, t0, acc)
	failed := message("m1", "a@example.org", "b@example.org")
	failed.Response = "550 5.1.1 <b@example.org>: no such user"
	failed.RecipientResponses = []webhook.RecipientResponse{{Recipient: "a@example.org", Response: "250 2.0.0 ok"}}
	last := h.out.add(webhook.MessageFailed, t0, failed)
	h.add(t, webhook.Endpoint{Name: "sg", URL: rc.srv.URL, Format: webhook.FormatSendGrid, PrivateKey: key})

	r := rc.next(t)
	verifySendGrid(t, pub, r)
	var objs []map[string]any
	if err := json.Unmarshal(r.body, &objs); err != nil {
		t.Fatal(err)
	}
	want := []struct{ email, event string }{
		{"a@example.org", "processed"}, {"b@example.org", "processed"},
		{"a@example.org", "delivered"}, {"b@example.org", "bounce"},
	}
	if len(objs) != len(want) {
		t.Fatalf("got %d objects, want %d: %s", len(objs), len(want), r.body)
	}
	ids := map[any]bool{}
	for i, w := range want {
		o := objs[i]
		if o["email"] != w.email || o["event"] != w.event || o["sg_message_id"] != "m1" ||
			o["smtp-id"] != "<m1@shop.example.com>" || o["timestamp"] != float64(t0.Unix()) {
			t.Errorf("object %d = %v, want %s %s", i, o, w.email, w.event)
		}
		ids[o["sg_event_id"]] = true
	}
	if len(ids) != len(want) {
		t.Errorf("sg_event_id not unique per event and recipient: %v", ids)
	}
	if o := objs[0]; o["order"] != "42" || o["category"] != "orders" || o["reason"] != nil {
		t.Errorf("unique args or category missing: %v", o)
	}
	if o := objs[3]; o["reason"] != failed.Response || o["status"] != "5.1.1" || o["type"] != "bounce" {
		t.Errorf("bounce = %v", o)
	}
	h.waitStatus(t, "sg", func(st webhook.Status) bool { return st.Cursor == last.Seq })
}

// verifySendGrid checks r the way SendGrid documents: the public key is
// the base64 of a PKIX DER key, the signature ECDSA over SHA-256 of the
// timestamp header followed by the body.
func verifySendGrid(t *testing.T, pub string, r request) {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get("X-Twilio-Email-Event-Webhook-Signature"))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(append([]byte(r.header.Get("X-Twilio-Email-Event-Webhook-Timestamp")), r.body...))
	if !ecdsa.VerifyASN1(k.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("SendGrid signature does not verify; headers %v", r.header)
	}
	if r.header.Get("X-Twilio-Email-Event-Webhook-Timestamp") != strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("timestamp header %q", r.header.Get("X-Twilio-Email-Event-Webhook-Timestamp"))
	}
}

// A drop of a message the upstream may have is still SendGrid's "dropped"
// (it has no better word), but does not read as "never sent": its reason
// says so, and maybe_delivered, which no unique arg can fake, says it to
// code.
func TestSendGridDropMaybeDelivered(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	sure := message("m1", "a@example.org")
	sure.Reason = "wrong list"
	sure.UniqueArgs = map[string]string{"maybe_delivered": "true"}
	maybe := message("m2", "a@example.org")
	maybe.Reason, maybe.MaybeDelivered = "wrong list", true
	bare := message("m3", "a@example.org")
	bare.MaybeDelivered = true
	for _, d := range []webhook.MessageData{sure, maybe, bare} {
		h.out.add(webhook.MessageDropped, t0, d)
	}
	h.add(t, sendGrid(t, "sg", rc.srv.URL))

	var objs []map[string]any
	if body := rc.next(t).body; json.Unmarshal(body, &objs) != nil || len(objs) != 3 {
		t.Fatalf("body %s", body)
	}
	for i, want := range []struct {
		reason string
		maybe  any
	}{{"wrong list", nil}, {"maybe delivered: wrong list", true}, {"maybe delivered", true}} {
		if o := objs[i]; o["event"] != "dropped" || o["reason"] != want.reason || o["maybe_delivered"] != want.maybe {
			t.Errorf("object %d = %v, want dropped, reason %q, maybe_delivered %v", i, o, want.reason, want.maybe)
		}
	}
}

// What docs/events.md says of a Message-ID on the wire: escaped in the
// standard format's data, as the spool and json.Marshal write it, and
// restored by any JSON parser; as written in SendGrid's smtp-id.
func TestAngleBracketsOnTheWire(t *testing.T) {
	h := start(t, webhook.Config{})
	std, sg := newReceiver(t, nil), newReceiver(t, nil)
	ep, _ := standard(t, "std", std.srv.URL)
	h.add(t, ep)
	h.add(t, sendGrid(t, "sg", sg.srv.URL))
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))

	body := std.next(t).body
	var evs []struct{ Data webhook.MessageData }
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 1 {
		t.Fatalf("standard body %s: %v", body, err)
	}
	if !bytes.Contains(body, []byte(`"message_id_header":"\u003cm1@shop.example.com\u003e"`)) ||
		evs[0].Data.MessageIDHeader != "<m1@shop.example.com>" {
		t.Errorf("standard body %s: want the Message-ID escaped, and parsed back to <m1@shop.example.com>", body)
	}
	if body := sg.next(t).body; !bytes.Contains(body, []byte(`"smtp-id":"<m1@shop.example.com>"`)) {
		t.Errorf("sendgrid body %s: want smtp-id as written", body)
	}
}
