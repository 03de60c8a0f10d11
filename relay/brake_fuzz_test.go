package relay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/holdrelay/relay/auth"
)

// FuzzBrakeContent: whatever a client sends, the content digest ignores
// the header block (a new Date, Message-ID or trace header is the same
// content), never panics, and the detector's tables stay within bounds.
func FuzzBrakeContent(f *testing.F) {
	f.Add([]byte("Subject: hi\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nbody\r\n"), []byte("Message-ID: <1@x>\r\n"))
	f.Add([]byte("no header at all"), []byte("Received: from a\r\n"))
	f.Add([]byte("Subject: x\n\nunix line ends\n"), []byte("X-Trace: 1\n"))
	f.Add([]byte("\r\n\r\n"), []byte(""))
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/alternative; boundary=\"==b1==\"\r\n\r\n--==b1==\r\n\r\nhi\r\n--==b1==--\r\n"), []byte("Date: 1\r\n"))
	f.Add([]byte("Subject: no body\r\nDate: 1\r\n"), []byte("Message-ID: <2@x>\r\n"))
	f.Fuzz(func(t *testing.T, msg, extra []byte) {
		d := newDetector(BrakeConfig{Duplicates: 2, Rate: 3})
		// A boundary declared in the header is taken out of the body
		// (see digest): a line declaring one may change the digest.
		if bytes.Contains(bytes.ToLower(extra), []byte("boundary=")) || bytes.Contains(extra, []byte("\n\n")) || bytes.Contains(extra, []byte("\r\n\r\n")) ||
			!bytes.HasSuffix(extra, []byte("\n")) || !bytes.Contains(msg, []byte("\r\n\r\n")) || bytes.Contains(msg[:bytes.Index(msg, []byte("\r\n\r\n"))], []byte("\n\n")) {
			d.digest("s", msg) // any input: no panic
			return
		}
		if d.digest("s", msg) != d.digest("s", append(append([]byte(nil), extra...), msg...)) {
			t.Fatalf("a header line %q changed the digest of %q", extra, msg)
		}
		cred := &auth.Credential{Name: "app"}
		now := time.Unix(0, 0)
		trips := 0
		for i := range 10 {
			if d.observe(observation{cred: cred, to: []string{"a@b"}, digest: d.digest("s", msg), counted: true}, now.Add(time.Duration(i)*time.Second)) != nil {
				trips++
			}
		}
		if trips != 1 {
			t.Fatalf("%d trips of one loop, want exactly 1", trips)
		}
		if w := d.creds["app"]; len(w.rate) > 4 || w.pairs.lru.Len() > maxPairs || w.lists.lru.Len() > maxPairs {
			t.Fatalf("tables grew past their bounds: rate %d, pairs %d, lists %d", len(w.rate), w.pairs.lru.Len(), w.lists.lru.Len())
		}
	})
}

// BenchmarkBrakeObserve is the detector's cost per accepted message of
// 10 KiB (digest and both triggers), to set beside the accept's own
// (BenchmarkAccept*): the brake must not move the accept rate.
func BenchmarkBrakeObserve(b *testing.B) {
	d := newDetector(DefaultBrake)
	big := 1000000
	cred := &auth.Credential{Name: "app", BrakeRate: &big}
	msg := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog.\r\n"), 220)
	msg = append([]byte("Subject: hello\r\n\r\n"), msg...)
	now := time.Unix(0, 0)
	to := []string{"someone@example.net"}
	b.SetBytes(int64(len(msg)))
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(msg[len(msg)-10:], uint64(i)) // distinct content, as a newsletter's
		o := observation{cred: cred, to: to, subject: "hello", digest: d.digest("hello", msg), counted: true}
		if d.observe(o, now.Add(time.Duration(i)*time.Millisecond)) != nil {
			b.Fatal("tripped")
		}
	}
}
