package smtpapi

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const body = "\r\nHello\r\nX-SMTPAPI: not a header, the body\r\n"

func TestExtractHonoursAndStrips(t *testing.T) {
	msg := "From: a@example.com\r\n" +
		"X-SMTPAPI: {\"send_at\": 1796299200, \"batch_id\": \"b-1\",\r\n" +
		"\t\"category\": [\"welcome\", \"onboarding\", \"welcome\"],\r\n" +
		" \"unique_args\": {\"user\": \"42\", \"n\": 7, \"vip\": true}, \"filters\": {}}\r\n" +
		"Subject: hi\r\n" + body
	o, out, err := Extract([]byte(msg), now)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Batch:      "b-1",
		Categories: []string{"welcome", "onboarding"},
		UniqueArgs: map[string]string{"user": "42", "n": "7", "vip": "true"},
		SendAt:     time.Unix(1796299200, 0).UTC(),
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options\n got %+v\nwant %+v", o, want)
	}
	if string(out) != "From: a@example.com\r\nSubject: hi\r\n"+body {
		t.Errorf("stripped message:\n%q", out)
	}
}

func TestPlainRelayHeaders(t *testing.T) {
	for _, tc := range []struct{ send, want string }{
		{"2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z"},
		{"2026-12-01T10:00:00+01:00", "2026-12-01T09:00:00Z"},
		{"1796115600", "2026-12-01T09:00:00Z"},
		{"2026-12-01T08:59:59.5Z", "2026-12-01T09:00:00Z"}, // never early
	} {
		msg := "x-relay-batch:  nightly.2026-12-01 \nX-Relay-Send-At: " + tc.send + "\nSubject: s\n\nbody\n"
		o, out, err := Extract([]byte(msg), now)
		if err != nil {
			t.Fatalf("%s: %v", tc.send, err)
		}
		if o.Batch != "nightly.2026-12-01" || o.SendAt.Format(time.RFC3339) != tc.want {
			t.Errorf("%s: %+v", tc.send, o)
		}
		if string(out) != "Subject: s\n\nbody\n" {
			t.Errorf("%s: stripped %q", tc.send, out)
		}
	}
}

func TestNoHeadersNoCopy(t *testing.T) {
	msg := []byte("Subject: hi\r\n" + body)
	o, out, err := Extract(msg, now)
	if err != nil || !reflect.DeepEqual(o, Options{}) || &out[0] != &msg[0] {
		t.Fatalf("a message without our headers was changed: %+v %v", o, err)
	}
}

func TestMalformedHeadersSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"X-SMTPAPI: {not json", "not a JSON object"},
		{"X-SMTPAPI: [1,2]", "not a JSON object"},
		{"X-SMTPAPI: {} {}", "text after"},
		{`X-SMTPAPI: {"batch_id": "a"}}`, "text after"},
		{`X-SMTPAPI: {"batch_id": "a"}]`, "text after"},
		{"X-SMTPAPI: null", "not a JSON object"},
		{`X-SMTPAPI: {"send_at": 1796299200, "send_at": 1796299300}`, `key "send_at" given twice`},
		{`X-SMTPAPI: {"send_at": "1796299200"}`, "send_at must be a unix timestamp"},
		{`X-SMTPAPI: {"send_at": "tomorrow"}`, "send_at must be a unix timestamp"},
		{`X-SMTPAPI: {"send_at": 1.5}`, "whole number"},
		{`X-SMTPAPI: {"send_at": 1796299200000}`, "more than 366 days ahead"},
		{`X-SMTPAPI: {"send_at": -5}`, "not a time"},
		{`X-SMTPAPI: {"batch_id": 12}`, "batch_id must be a string"},
		{`X-SMTPAPI: {"batch_id": "a b"}`, "may only hold"},
		{`X-SMTPAPI: {"batch_id": ""}`, "1 to 100 characters"},
		{`X-SMTPAPI: {"category": {"a": 1}}`, "category must be"},
		{`X-SMTPAPI: {"category": ""}`, "printable UTF-8"},
		{`X-SMTPAPI: {"category": "a\u0007b"}`, "printable UTF-8"},
		{`X-SMTPAPI: {"unique_args": ["a"]}`, "unique_args must be an object"},
		{`X-SMTPAPI: {"unique_args": {"a": {"b": 1}}}`, "must be a string, number or boolean"},
		{`X-SMTPAPI: {"to": ["x@example.com"]}`, `"to" (per-recipient sends) is not supported`},
		{`X-SMTPAPI: {"send_each_at": [1]}`, "not supported"},
		{`X-SMTPAPI: {"sendat": 1}`, `unknown key "sendat"`},
		{"X-SMTPAPI: {}\r\nX-Smtpapi: {}", "more than once"},
		{"X-Relay-Batch: a/b", "may only hold"},
		{"X-Relay-Batch:", "1 to 100 characters"},
		{"X-Relay-Send-At: next tuesday", "neither RFC 3339"},
		{"X-Relay-Send-At: 2026-12-01 09:00", "neither RFC 3339"},
		{"X-Relay-Batch: a\r\nX-SMTPAPI: {\"batch_id\": \"b\"}", "disagree"},
		{"X-Relay-Send-At: 1796115600\r\nX-SMTPAPI: {\"send_at\": 1796115601}", "disagree"},
	} {
		_, _, err := Extract([]byte(tc.header+"\r\nSubject: x\r\n\r\nbody\r\n"), now)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, tc.want) {
			t.Errorf("%s\n  got %v\n want an *Error containing %q", tc.header, err, tc.want)
		}
		if e != nil && (strings.ContainsAny(e.Msg, "\r\n") || len(e.Msg) > 300) {
			t.Errorf("%s: the reply text %q is not one short line", tc.header, e.Msg)
		}
	}
}

func TestHeadersInTheBodyAreLeftAlone(t *testing.T) {
	msg := []byte("Subject: x\r\n\r\nX-Relay-Batch: b\r\n")
	o, out, err := Extract(msg, now)
	if err != nil || o.Batch != "" || !bytes.Equal(out, msg) {
		t.Fatalf("a header-like line in the body was read: %+v %q %v", o, out, err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte("X-SMTPAPI: {\"send_at\": 1796299200, \"batch_id\": \"b\", \"category\": \"c\"}\r\n\r\nbody"))
	f.Add([]byte("X-Relay-Batch: b\nX-Relay-Send-At: 2026-12-01T09:00:00Z\n\nbody"))
	f.Add([]byte("X-SMTPAPI: {\"unique_args\": {\"a\": 1},\r\n \"category\": [\"x\", \"y\"]}\r\nSubject: s\r\n\r\n"))
	f.Add([]byte("X-SMTPAPI:\r\n\t{}\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		o, out, err := Extract(msg, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(out) > len(msg) {
			t.Fatalf("stripping grew the message")
		}
		if o.Batch != "" && !ValidBatchID(o.Batch) {
			t.Fatalf("invalid batch %q accepted", o.Batch)
		}
		for _, c := range o.Categories {
			if !ValidCategory(c) {
				t.Fatalf("invalid category %q accepted", c)
			}
		}
		if !o.SendAt.IsZero() && o.SendAt.After(now.Add(MaxAhead)) {
			t.Fatalf("send_at %v beyond the bound", o.SendAt)
		}
		// What is left has none of our fields: extracting again finds nothing.
		o2, out2, err := Extract(out, now)
		if err != nil || !reflect.DeepEqual(o2, Options{}) || !bytes.Equal(out2, out) {
			t.Fatalf("a second pass still found headers: %+v %v", o2, err)
		}
	})
}
