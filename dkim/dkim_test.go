package dkim

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// ring makes a keyring with a new key per "domain/selector/algorithm" and
// returns it with the DNS records, by name.
func ring(t testing.TB, specs ...string) (*Keyring, map[string]string) {
	t.Helper()
	records := map[string]string{}
	var keys []Key
	for _, s := range specs {
		p := strings.Split(s, "/")
		der, err := Generate(p[2])
		if err != nil {
			t.Fatal(err)
		}
		k, err := NewKey(p[0], p[1], der)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if records[RecordName(p[1], p[0])], err = Record(der); err != nil {
			t.Fatal(err)
		}
	}
	r := &Keyring{}
	r.Set(keys)
	return r, records
}

func verify(t *testing.T, msg []byte, records map[string]string) []*msgdkim.Verification {
	t.Helper()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no record at %s", name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

const sample = "Received: from client\r\nFrom: App <app@mail.example.com>\r\nTo: user@example.net\r\n" +
	"Subject: hi\r\nDate: Mon, 02 Jan 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n" +
	"X-Mailer: test\r\n\r\nHello,  world.  \r\n\r\n\r\n"

func TestSign(t *testing.T) {
	r, records := ring(t, "example.com/a/rsa", "example.com/b/ed25519", "other.org/c/ed25519")
	signed, n, err := r.Sign([]byte(sample))
	if err != nil || n != 2 {
		t.Fatalf("sign: %d signatures, %v", n, err)
	}
	vs := verify(t, signed, records)
	if len(vs) != 2 {
		t.Fatalf("%d signatures verified, want the parent domain's 2 (a rotation signs with both)", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "example.com" {
			t.Errorf("verification: %v, d=%s", v.Err, v.Domain)
		}
		if strings.Join(v.HeaderKeys, ":") != "From:Subject:Date:To:Message-ID:From" {
			t.Errorf("h= %v: want the recommended fields present, From oversigned, and no X-Mailer", v.HeaderKeys)
		}
	}
	if !strings.Contains(string(signed), "c=relaxed/relaxed") {
		t.Errorf("not relaxed/relaxed:\n%s", signed)
	}
	// Relaxed canonicalization tolerates what transit does to spaces;
	// an altered word fails.
	if v := verify(t, bytes.Replace(signed, []byte("Hello,  world."), []byte("Hello, world."), 1), records); v[0].Err != nil {
		t.Errorf("relaxed body: %v", v[0].Err)
	}
	if v := verify(t, bytes.Replace(signed, []byte("world"), []byte("w0rld"), 1), records); v[0].Err == nil || v[1].Err == nil {
		t.Error("altered body still verifies")
	}
	if v := verify(t, bytes.Replace(signed, []byte("\r\nFrom: App"), []byte("\r\nFrom: Eve <eve@evil.test>\r\nFrom: App"), 1), records); v[0].Err == nil {
		t.Error("a second From added afterwards still verifies")
	}
	again, n, err := r.Sign(signed)
	if err != nil || n != 0 || !bytes.Equal(again, signed) {
		t.Errorf("a message signed already was signed again: %d, %v", n, err)
	}
}

func TestSignLeavesOthersAlone(t *testing.T) {
	r, _ := ring(t, "example.com/a/ed25519")
	for _, msg := range []string{
		"From: app@example.org\r\n\r\nbody\r\n",                                                     // no key for the domain
		"From: app@notexample.com\r\n\r\nbody\r\n",                                                  // a suffix is not a parent
		"To: x@example.com\r\n\r\nbody\r\n",                                                         // no From
		"From: not an address\r\n\r\nbody\r\n",                                                      // unreadable From
		"From: app@example.com\r\nDKIM-Signature: v=1; d=Example.com;\r\n s=a; b=x\r\n\r\nbody\r\n", // signed by that key
	} {
		out, n, err := r.Sign([]byte(msg))
		if err != nil || n != 0 || string(out) != msg {
			t.Errorf("%q: signed (%d, %v)", msg, n, err)
		}
	}
	var empty Keyring
	if out, n, err := empty.Sign([]byte(sample)); err != nil || n != 0 || string(out) != sample {
		t.Errorf("empty keyring signed: %d, %v", n, err)
	}
}

func TestRecordAndZone(t *testing.T) {
	der, err := Generate(RSA)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Record(der)
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MIIBIjAN") || len(rec) < 390 {
		t.Fatalf("record %q, %v", rec, err)
	}
	zone := ZoneLine("s", "example.com", rec)
	if !strings.HasPrefix(zone, `s._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=`) ||
		!strings.Contains(zone, `" "`) {
		t.Errorf("zone line %q: want the record cut into strings", zone)
	}
	for _, part := range strings.Split(zone, `"`)[1:] {
		if len(part) > 255 {
			t.Errorf("a TXT string of %d characters", len(part))
		}
	}
	if _, err := Generate("dsa"); err == nil {
		t.Error("dsa generated")
	}
}

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM": "example.com", "example.com.": "example.com", "xn--bcher-kva.example": "xn--bcher-kva.example",
		"a-b.c1.io": "a-b.c1.io", "": "", "com": "", "exa_mple.com": "", "a..com": "", ".a.com": "",
		"a.com;x": "", "a.com ": "", "-a.com": "", "a-.com": "", "1.2.3.4": "", "bücher.de": "",
		strings.Repeat("a", 64) + ".com": "", strings.Repeat("a.", 127) + "com": "",
	} {
		got, err := NormalizeDomain(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzSign(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("From: a@example.com\n\nlf only\n"))
	f.Add([]byte("From: a@example.com"))
	f.Add([]byte("From: \"x\" <a@example.com>, b@example.com\r\n\tfolded\r\n\r\n"))
	r, _ := ring(f, "example.com/a/ed25519")
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, n, err := r.Sign(msg)
		if err != nil || n == 0 {
			return
		}
		if !bytes.HasSuffix(out, msg) || !bytes.HasPrefix(out, []byte("DKIM-Signature: ")) {
			t.Fatalf("signed message does not end with the original")
		}
	})
}

// BenchmarkSign is the signing step's cost per message of 10 KiB.
func BenchmarkSign(b *testing.B) {
	msg := []byte(strings.Replace(sample, "Hello,", strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 350), 1))
	for _, alg := range []string{"nokeys", "otherdomain", RSA, Ed25519} {
		b.Run(alg, func(b *testing.B) {
			r := &Keyring{}
			switch alg {
			case "nokeys":
			case "otherdomain":
				r, _ = ring(b, "example.org/a/"+Ed25519)
			default:
				r, _ = ring(b, "example.com/a/"+alg)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSignBareLF: the spool keeps a message's bare LFs and the transport
// sends them as CRLF (package relay/upstream): the signature made over
// the spooled form verifies over the sent one.
func TestSignBareLF(t *testing.T) {
	r, records := ring(t, "example.com/a/ed25519")
	signed, n, err := r.Sign([]byte("From: a@example.com\nSubject: lf\n\nline one\nline  two \n\n"))
	if err != nil || n != 1 {
		t.Fatalf("sign: %d, %v", n, err)
	}
	sent := bytes.ReplaceAll(bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if v := verify(t, sent, records); v[0].Err != nil {
		t.Errorf("bare-LF message signed, sent as CRLF: %v", v[0].Err)
	}
}
