// Package smtpapi reads the scheduling headers a client may put on a
// message: SendGrid's X-SMTPAPI (JSON) and relay's own plain X-Relay-Batch
// and X-Relay-Send-At. It returns what they ask for and the message
// without them, since they are instructions to us, not to the recipient.
//
// From X-SMTPAPI it honours send_at, batch_id, category and unique_args.
// It ignores filters, asm_group_id, asm_groups_to_display and ip_pool
// (SendGrid delivery settings that mean nothing here), and it refuses
// to, sub, section and send_each_at: they change who gets the message or
// what it says, and guessing would send the wrong mail. Anything else is
// refused too, so that a typo is reported instead of silently ignored.
//
// Bounds, chosen to stop abuse rather than to copy SendGrid's quotas:
// batch IDs 1..100 characters of [A-Za-z0-9._-]; up to 100 categories of
// up to 255 bytes; unique_args up to 64 KiB in all; send_at at most 366
// days ahead (a later one is almost always milliseconds passed as
// seconds).
package smtpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdrelay/relay/internal/names"
)

// Options is what a message's headers asked for.
type Options struct {
	Batch      string
	Categories []string
	UniqueArgs map[string]string
	SendAt     time.Time // zero: no scheduled time
}

// Error is a header the client got wrong; its text is meant for the
// SMTP reply.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Limits; see the package doc.
const (
	MaxBatchID      = names.MaxBatchID
	MaxCategories   = 100
	MaxCategory     = names.MaxCategory
	MaxUniqueArgs   = 64 << 10
	MaxAhead        = 366 * 24 * time.Hour
	maxHeaderValue  = 1 << 20
	headerSMTPAPI   = "x-smtpapi"
	headerRelayBat  = "x-relay-batch"
	headerRelaySend = "x-relay-send-at"
)

// Extract parses the scheduling headers in msg's header section and
// returns the options and msg without those header fields. A message
// without any of them comes back as it was, uncopied.
func Extract(msg []byte, now time.Time) (Options, []byte, error) {
	var o Options
	fields := findFields(msg)
	if len(fields) == 0 {
		return o, msg, nil
	}
	seen := map[string]bool{}
	var relayBatch, relaySend string
	for _, f := range fields {
		if seen[f.name] {
			return o, nil, errorf("%s: the header appears more than once", canonical(f.name))
		}
		seen[f.name] = true
		if len(f.value) > maxHeaderValue {
			return o, nil, errorf("%s: header longer than %d bytes", canonical(f.name), maxHeaderValue)
		}
		switch f.name {
		case headerSMTPAPI:
			if err := o.parseJSON(f.value, now); err != nil {
				return o, nil, err
			}
		case headerRelayBat:
			relayBatch = strings.TrimSpace(f.value)
		case headerRelaySend:
			relaySend = strings.TrimSpace(f.value)
		}
	}
	if seen[headerRelayBat] {
		if err := checkBatchID("X-Relay-Batch", relayBatch); err != nil {
			return o, nil, err
		}
		if o.Batch != "" && o.Batch != relayBatch {
			return o, nil, errorf("X-Relay-Batch %q and X-SMTPAPI batch_id %q disagree", relayBatch, o.Batch)
		}
		o.Batch = relayBatch
	}
	if seen[headerRelaySend] {
		at, err := parseSendAt(relaySend, now)
		if err != nil {
			return o, nil, err
		}
		if !o.SendAt.IsZero() && !o.SendAt.Equal(at) {
			return o, nil, errorf("X-Relay-Send-At and X-SMTPAPI send_at disagree")
		}
		o.SendAt = at
	}
	return o, strip(msg, fields), nil
}

// parseSendAt reads X-Relay-Send-At: RFC 3339, or unix seconds.
func parseSendAt(v string, now time.Time) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return checkSendAt("X-Relay-Send-At", n, now)
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errorf("X-Relay-Send-At: %q is neither RFC 3339 (2026-12-01T09:00:00Z) nor unix seconds", clip(v))
	}
	unix := at.Unix()
	if at.Nanosecond() != 0 {
		unix++ // never before the time asked for
	}
	return checkSendAt("X-Relay-Send-At", unix, now)
}

func checkSendAt(what string, unix int64, now time.Time) (time.Time, error) {
	if unix <= 0 {
		return time.Time{}, errorf("%s: %d is not a time", what, unix)
	}
	if unix > now.Add(MaxAhead).Unix() {
		return time.Time{}, errorf("%s: %d is more than 366 days ahead (milliseconds instead of seconds?)", what, unix)
	}
	return time.Unix(unix, 0).UTC(), nil
}

func checkBatchID(what, id string) error {
	if id == "" || len(id) > MaxBatchID {
		return errorf("%s: a batch ID has 1 to %d characters", what, MaxBatchID)
	}
	if !ValidBatchID(id) {
		return errorf("%s: batch ID %q may only hold letters, digits, '.', '_' and '-'", what, clip(id))
	}
	return nil
}

// ValidBatchID reports whether id is acceptable as a batch ID.
func ValidBatchID(id string) bool { return names.BatchID(id) }

// ValidCategory reports whether c is acceptable as a category.
func ValidCategory(c string) bool { return names.Category(c) }

// clip keeps an echoed value short and printable in a reply line.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}

var ignoredKeys = map[string]bool{"filters": true, "asm_group_id": true, "asm_groups_to_display": true, "ip_pool": true}

var refusedKeys = map[string]string{
	"to":           "per-recipient sends",
	"sub":          "substitutions",
	"section":      "sections",
	"send_each_at": "per-recipient send times",
}

func (o *Options) parseJSON(v string, now time.Time) error {
	raw, err := object(v)
	if err != nil {
		return err
	}
	for key, val := range raw {
		var err error
		switch key {
		case "send_at":
			err = o.sendAt(val, now)
		case "batch_id":
			err = o.batchID(val)
		case "category":
			err = o.categories(val)
		case "unique_args":
			err = o.uniqueArgs(val)
		default:
			if what, ok := refusedKeys[key]; ok {
				return errorf("X-SMTPAPI: %q (%s) is not supported by this relay", key, what)
			}
			if !ignoredKeys[key] {
				return errorf("X-SMTPAPI: unknown key %q", clip(key))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// object reads a JSON object strictly: nothing before or after it, and no
// key twice (encoding/json would keep the last one, a silent guess).
func object(v string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(v))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errorf("X-SMTPAPI: not a JSON object")
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errorf("X-SMTPAPI: not a JSON object: %s", clip(err.Error()))
		}
		key, _ := tok.(string)
		if _, dup := raw[key]; dup {
			return nil, errorf("X-SMTPAPI: key %q given twice", clip(key))
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, errorf("X-SMTPAPI: not a JSON object: %s", clip(err.Error()))
		}
		raw[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return nil, errorf("X-SMTPAPI: not a JSON object: %s", clip(err.Error()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf("X-SMTPAPI: text after the JSON object")
	}
	return raw, nil
}

func (o *Options) sendAt(val json.RawMessage, now time.Time) error {
	var n json.Number
	if len(val) == 0 || (val[0] != '-' && (val[0] < '0' || val[0] > '9')) || json.Unmarshal(val, &n) != nil {
		return errorf("X-SMTPAPI: send_at must be a unix timestamp in seconds")
	}
	unix, err := n.Int64()
	if err != nil {
		return errorf("X-SMTPAPI: send_at must be a whole number of seconds, not %s", clip(n.String()))
	}
	o.SendAt, err = checkSendAt("X-SMTPAPI send_at", unix, now)
	return err
}

func (o *Options) batchID(val json.RawMessage) error {
	if err := json.Unmarshal(val, &o.Batch); err != nil {
		return errorf("X-SMTPAPI: batch_id must be a string")
	}
	return checkBatchID("X-SMTPAPI batch_id", o.Batch)
}

func (o *Options) categories(val json.RawMessage) error {
	var list []string
	if err := json.Unmarshal(val, &list); err != nil {
		var one string
		if json.Unmarshal(val, &one) != nil {
			return errorf("X-SMTPAPI: category must be a string or a list of strings")
		}
		list = []string{one}
	}
	if len(list) > MaxCategories {
		return errorf("X-SMTPAPI: more than %d categories", MaxCategories)
	}
	for _, c := range list {
		if !ValidCategory(c) {
			return errorf("X-SMTPAPI: category %q must be 1 to %d bytes of printable UTF-8", clip(c), MaxCategory)
		}
		if !contains(o.Categories, c) {
			o.Categories = append(o.Categories, c)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// uniqueArgs takes string values, and numbers and booleans as their JSON
// text (SendGrid asks for strings; clients often send ids as numbers).
func (o *Options) uniqueArgs(val json.RawMessage) error {
	if len(val) > MaxUniqueArgs {
		return errorf("X-SMTPAPI: unique_args larger than %d bytes", MaxUniqueArgs)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(val, &raw); err != nil {
		return errorf("X-SMTPAPI: unique_args must be an object")
	}
	o.UniqueArgs = make(map[string]string, len(raw))
	for k, v := range raw {
		if k == "" || !utf8.ValidString(k) {
			return errorf("X-SMTPAPI: unique_args has an empty or invalid key")
		}
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case bytes.Equal(v, []byte("true")), bytes.Equal(v, []byte("false")):
			s = string(v)
		default:
			var n json.Number
			if json.Unmarshal(v, &n) != nil {
				return errorf("X-SMTPAPI: unique_args %q must be a string, number or boolean", clip(k))
			}
			s = n.String()
		}
		o.UniqueArgs[k] = s
	}
	return nil
}

// canonical is how replies name a header.
func canonical(name string) string {
	switch name {
	case headerSMTPAPI:
		return "X-SMTPAPI"
	case headerRelayBat:
		return "X-Relay-Batch"
	}
	return "X-Relay-Send-At"
}

// SendAt checks a send_at given as unix seconds by another intake (the
// HTTP Mail Send API): the same bounds as X-SMTPAPI's. what names the
// field in the error.
func SendAt(what string, unix int64, now time.Time) (time.Time, error) {
	return checkSendAt(what, unix, now)
}

// CheckBatchID checks a batch ID given by another intake; what names the
// field in the error.
func CheckBatchID(what, id string) error { return checkBatchID(what, id) }
