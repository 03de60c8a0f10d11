package spool

import (
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends d as json.Marshal would (a test holds them equal),
// without reflection: a bulk action writes one per message, and
// encoding/json made up a third of a 100,000-message hold.
func (d *messageData) appendJSON(b []byte) []byte {
	b = append(b, `{"message_id":`...)
	b = appendJSONString(b, d.MessageID)
	b = appendField(b, "credential", d.Credential)
	b = appendField(b, "from", d.From)
	b = append(b, `,"recipients":`...)
	b = appendJSONStrings(b, d.Recipients)
	b = appendField(b, "subject", d.Subject)
	b = appendField(b, "message_id_header", d.MessageIDHeader)
	b = appendField(b, "batch_id", d.BatchID)
	b = append(b, `,"categories":`...)
	b = appendJSONStrings(b, d.Categories)
	b = append(b, `,"unique_args":{`...)
	b = appendJSONObject(b, d.UniqueArgs)
	return append(d.appendFields(b), '}')
}

// appendChange appends the JSON the outbox stores for a message event:
// message_id and the change's fields, without the message's own.
func (d *messageData) appendChange(b []byte) []byte {
	b = append(b, `{"message_id":`...)
	b = appendJSONString(b, d.MessageID)
	return append(d.appendFields(b), '}')
}

// appendFields appends the fields that depend on the change, each with
// its leading comma.
func (d *messageData) appendFields(b []byte) []byte {
	if d.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(d.Attempt), 10)
	}
	b = appendOptional(b, "response", d.Response)
	if !d.NextAttempt.IsZero() {
		b = append(b, `,"next_attempt":"`...)
		b = d.NextAttempt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if len(d.RecipientResponses) > 0 {
		b = append(b, `,"recipient_responses":[`...)
		for i, r := range d.RecipientResponses {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"recipient":`...)
			b = appendJSONString(b, r.Recipient)
			b = appendField(b, "response", r.Response)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendOptional(b, "actor", d.Actor)
	b = appendOptional(b, "reason", d.Reason)
	b = appendOptional(b, "note", d.Note)
	if d.MaybeDelivered {
		b = append(b, `,"maybe_delivered":true`...)
	}
	return appendOptional(b, "dsn_message_id", d.DSNMessageID)
}

// appendJSONObject appends m with its keys sorted, as encoding/json does.
func appendJSONObject(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return append(b, '}')
	}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendOptional is appendField for an omitempty field.
func appendOptional(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, name, v)
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does: control characters,
// quotes and backslashes escaped, <, > and & as \u003c and so on, invalid
// UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
