package relay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzValidAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", "user+tag@example.com", "ü@例え.jp", "a@", "@b", "a@b..c", "a b@c", strings.Repeat("a", 64) + "@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if !validAddress(addr) {
			return
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 1 || at == len(addr)-1 || len(addr) > 254 || !utf8.ValidString(addr) || strings.ContainsAny(addr, " \r\n\t<>") {
			t.Fatalf("validAddress accepted %q", addr)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Subject: =?UTF-8?B?w6k=?=\r\nMessage-ID: <a@b>\r\n\r\nbody"))
	f.Add([]byte("Subject: unterminated"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("Subject: a\r\n folded\r\n\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?a=0D=0A=1B[31mred?=\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := parseHeader(body)
		if len(h.subject) > 998 || len(h.messageID) > 998 {
			t.Fatalf("unbounded header fields: %d, %d", len(h.subject), len(h.messageID))
		}
		for _, v := range append([]string{h.subject, h.messageID}, headerValues(h)...) {
			if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("unsafe header value %q", v)
			}
		}
	})
}

func headerValues(h headerInfo) []string {
	var out []string
	for _, m := range h.main {
		out = append(out, m.Value)
	}
	return out
}
