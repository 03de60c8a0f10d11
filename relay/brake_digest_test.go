package relay

import (
	"fmt"
	"testing"
)

// mimeCopy is a text-and-HTML message as mail libraries write it: a
// random boundary per message, and with nested, a second one inside.
func mimeCopy(boundary, inner, id, text string) string {
	if inner == "" {
		return fmt.Sprintf("Message-ID: <%s@x>\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/alternative; boundary=%q\r\n\r\n"+
			"--%s\r\nContent-Type: text/plain\r\n\r\n%s\r\n--%s\r\nContent-Type: text/html\r\n\r\n<p>%s</p>\r\n--%s--\r\n",
			id, boundary, boundary, text, boundary, text, boundary)
	}
	return fmt.Sprintf("Message-ID: <%s@x>\r\nSubject: Your invoice\r\nContent-Type: multipart/mixed;\r\n boundary=%s\r\n\r\n"+
		"--%s\r\nContent-Type: multipart/alternative; BOUNDARY=\"%s\"\r\n\r\n--%s\r\nContent-Type: text/plain\r\n\r\n%s\r\n--%s--\r\n"+
		"--%s\r\nContent-Type: application/pdf\r\n\r\nJVBERi0x\r\n--%s--\r\n",
		id, boundary, boundary, inner, inner, text, inner, boundary, boundary)
}

func TestBrakeDigest(t *testing.T) {
	d := newDetector(DefaultBrake)
	for _, c := range []struct {
		name string
		a, b string
		same bool
	}{
		{"fresh Date and Message-ID", "Date: 1\r\nMessage-ID: <1@x>\r\n\r\nPlease pay.\r\n", "Date: 2\r\nMessage-ID: <2@x>\r\n\r\nPlease pay.\r\n", true},
		{"another body", "Date: 1\r\n\r\nPlease pay.\r\n", "Date: 1\r\n\r\nPlease pay now.\r\n", false},
		{"a random boundary per copy", mimeCopy("==b1==", "", "1", "Please pay."), mimeCopy("==b2==", "", "2", "Please pay."), true},
		{"random nested boundaries", mimeCopy("_m1_", "_a1_", "1", "Please pay."), mimeCopy("_m2_", "_a2_", "2", "Please pay."), true},
		{"multipart, another text", mimeCopy("==b1==", "", "1", "Please pay."), mimeCopy("==b2==", "", "2", "Please pay 42."), false},
		{"no body, fresh Date and Message-ID", "Subject: disk full\r\nDate: 1\r\nMessage-ID: <1@x>\r\n", "Subject: disk full\r\nDate: 2\r\nMessage-ID: <2@x>\r\n", true},
		{"no header at all", "just text", "other text", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := d.digest("s", []byte(c.a)) == d.digest("s", []byte(c.b)); got != c.same {
				t.Fatalf("same digest %v, want %v:\n%s\n---\n%s", got, c.same, c.a, c.b)
			}
		})
	}
	if d.digest("a", []byte("x\r\n\r\nbody")) == d.digest("b", []byte("x\r\n\r\nbody")) {
		t.Fatal("another Subject, the same digest")
	}
}
