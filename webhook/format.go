package webhook

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// userAgent names the sender to receivers and their logs.
const userAgent = "relay-webhook/1"

// batchID is the webhook-id of the batch of events first..last sent to
// endpoint: the same for every attempt and after a restart, and different
// for every endpoint, so a receiver shared by two endpoints keeps both.
func batchID(endpoint string, first, last uint64) string {
	h := sha256.New()
	h.Write([]byte(endpoint))
	h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{0}, first), last))
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// body encodes events, which encodable accepted, in the endpoint's
// format.
func (ep *Endpoint) body(events []Event) ([]byte, error) {
	if ep.Format == FormatSendGrid {
		objs, err := sendGridObjects(events)
		if err != nil {
			return nil, err
		}
		return marshal(objs)
	}
	return marshal(events)
}

// marshal is json.Marshal without HTML escaping of the strings it
// encodes itself: in SendGrid's objects, smtp-id reads <x@y> as written.
// An event's data (the standard format) goes out as the spool wrote it,
// with <, > and & as \u003c, \u003e and \u0026, like json.Marshal, which
// Event.MarshalJSON uses: valid JSON, which a receiver's parser restores.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodable returns why e cannot go out in the endpoint's format, if it
// cannot: such an event would fail every attempt, or, in the SendGrid
// format, make no object at all, so it is given up rather than allowed to
// block the endpoint.
func (ep *Endpoint) encodable(e *Event) error {
	switch {
	case ep.Format == FormatSendGrid && e.Type != WebhookTest:
		var d MessageData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("message data: %w", err)
		}
		if len(d.Recipients) == 0 {
			// The spool lost them with the message's record (--retention
			// shorter than the event's wait), and SendGrid's objects are
			// one per recipient.
			return errors.New("message event without recipients (its record expired?): nothing to send in the sendgrid format")
		}
	case len(e.Data) != 0 && !json.Valid(e.Data):
		return errors.New("event data is not JSON")
	}
	return nil
}

// sign sets the headers of one attempt, made at unix second ts.
func (ep *Endpoint) sign(h http.Header, id string, ts int64, body []byte) error {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	if ep.Format == FormatSendGrid {
		sig, err := signSendGrid(ep.PrivateKey, strconv.FormatInt(ts, 10), body)
		if err != nil {
			return err
		}
		h.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
		h.Set("X-Twilio-Email-Event-Webhook-Timestamp", strconv.FormatInt(ts, 10))
		return nil
	}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", signStandard(ep.Secret, id, ts, body))
	return nil
}

// signStandard is the Standard Webhooks signature: HMAC-SHA256 of
// "<id>.<timestamp>.<body>".
func signStandard(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signSendGrid is SendGrid's Event Webhook signature: ECDSA P-256 over
// SHA-256 of the timestamp followed by the body, ASN.1 DER, base64.
func signSendGrid(key *ecdsa.PrivateKey, ts string, body []byte) (string, error) {
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("sign webhook: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
