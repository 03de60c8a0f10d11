package console

import (
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	for _, tc := range []struct{ name, raw, text, html string }{
		{"plain", "Subject: a\r\n\r\nhello\r\n", "hello\r\n", ""},
		{"base64 html", "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n", "", "<b>hi</b>"},
		{"nested", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n" +
			"--y\r\nContent-Type: text/plain\r\n\r\nt\r\n--y\r\nContent-Type: text/html\r\n\r\n<i>h</i>\r\n--y--\r\n--x--\r\n", "t", "<i>h</i>"},
		{"image only", "Content-Type: image/png\r\n\r\nxx", "", ""},
	} {
		b := parseBody([]byte(tc.raw))
		if b.err != nil || b.text != tc.text || b.html != tc.html {
			t.Errorf("%s: text %q html %q err %v", tc.name, b.text, b.html, b.err)
		}
	}
}

// FuzzParseBody: any message, however broken, gives a body or an error,
// never a panic or a hang.
func FuzzParseBody(f *testing.F) {
	f.Add("Subject: a\r\n\r\nhello\r\n")
	f.Add("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=3D</p>\r\n--b--\r\n")
	f.Add("Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64")
	f.Add("Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		b := parseBody([]byte(raw))
		if len(b.text) > maxPart || len(b.html) > maxPart {
			t.Fatalf("a part longer than %d", maxPart)
		}
		_ = strings.TrimSpace(b.text)
	})
}
