package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// sendGridEvents maps the message events SendGrid has words for to those
// words. A failed message's recipients that the upstream accepted are
// reported as delivered (see sendGridObject).
var sendGridEvents = map[string]string{
	MessageAccepted:  "processed",
	MessageDeferred:  "deferred",
	MessageDelivered: "delivered",
	MessageFailed:    "bounce",
	MessageDropped:   "dropped",
}

// sendGridReserved are the keys SendGrid itself puts in an event object;
// a unique arg never takes their place, as in SendGrid.
var sendGridReserved = map[string]bool{
	"email": true, "timestamp": true, "event": true, "sg_event_id": true, "sg_message_id": true,
	"smtp-id": true, "category": true, "response": true, "reason": true, "status": true,
	"attempt": true, "type": true, "bounce_classification": true, "ip": true, "tls": true,
	"cert_err": true, "useragent": true, "url": true, "url_offset": true, "asm_group_id": true,
	"marketing_campaign_id": true, "marketing_campaign_name": true, "pool": true,
	"sg_machine_open": true, "send_at": true, "sg_template_id": true, "sg_template_name": true,
	// Ours, on a drop: a unique arg must not set or fake it.
	"maybe_delivered": true,
}

// enhancedStatus finds an RFC 3463 status code such as 5.1.1 in a reply.
var enhancedStatus = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// sendGridObjects turns events into SendGrid's event objects: one per
// recipient of each message event.
func sendGridObjects(events []Event) ([]map[string]any, error) {
	var objs []map[string]any
	for i := range events {
		e := &events[i]
		if e.Type == WebhookTest {
			objs = append(objs, sendGridTest(e))
			continue
		}
		var d MessageData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		for _, rcpt := range d.Recipients {
			objs = append(objs, sendGridObject(e, &d, rcpt))
		}
	}
	return objs, nil
}

func sendGridObject(e *Event, d *MessageData, rcpt string) map[string]any {
	o := make(map[string]any, len(d.UniqueArgs)+10)
	for k, v := range d.UniqueArgs {
		if !sendGridReserved[k] {
			o[k] = v
		}
	}
	o["email"] = rcpt
	o["timestamp"] = e.Time.Unix()
	o["event"] = sendGridEvents[e.Type]
	o["sg_event_id"] = sendGridEventID(e.ID, rcpt)
	o["sg_message_id"] = d.MessageID
	if d.MessageIDHeader != "" {
		o["smtp-id"] = d.MessageIDHeader
	}
	if c := sendGridCategory(d.Categories); c != nil {
		o["category"] = c
	}
	switch e.Type {
	case MessageDeferred:
		o["response"] = d.Response
		o["attempt"] = strconv.Itoa(d.Attempt)
	case MessageDelivered:
		o["response"] = d.Response
	case MessageFailed:
		resp := d.responseFor(rcpt)
		if strings.HasPrefix(resp, "2") {
			o["event"], o["response"] = "delivered", resp
			break
		}
		o["type"], o["reason"], o["status"] = "bounce", resp, statusOf(resp)
	case MessageDropped:
		o["reason"] = d.Reason
		if d.MaybeDelivered {
			maybeDelivered(o, d.Reason)
		}
	}
	return o
}

// maybeDelivered marks a drop that may not be one: SendGrid has no word
// for it, and its "dropped" means "never sent", so the reason says
// otherwise and a key of our own says it to code.
func maybeDelivered(o map[string]any, reason string) {
	o["maybe_delivered"] = true
	o["reason"] = "maybe delivered"
	if reason != "" {
		o["reason"] = "maybe delivered: " + reason
	}
}

// sendGridTest is what `webhook test` sends a SendGrid receiver: an event
// of the kind every SendGrid receiver knows, for an example address.
func sendGridTest(e *Event) map[string]any {
	return map[string]any{
		"email": "example@test.com", "timestamp": e.Time.Unix(), "event": "processed",
		"sg_event_id": sendGridEventID(e.ID, ""), "sg_message_id": e.ID, "category": WebhookTest,
	}
}

// sendGridEventID is unique per event and recipient, and the same on every
// retry, so receivers can deduplicate as they do for SendGrid.
func sendGridEventID(eventID, rcpt string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + rcpt))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// sendGridCategory is SendGrid's shape: a string for one category, an
// array for several.
func sendGridCategory(cats []string) any {
	switch len(cats) {
	case 0:
		return nil
	case 1:
		return cats[0]
	}
	return cats
}

// statusOf returns the enhanced status code of an upstream reply, or one
// made from its reply code when the upstream gave none.
func statusOf(resp string) string {
	if s := enhancedStatus.FindString(resp); s != "" {
		return s
	}
	if strings.HasPrefix(resp, "4") {
		return "4.0.0"
	}
	return "5.0.0"
}
