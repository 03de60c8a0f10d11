package upstream

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"

	"github.com/holdrelay/relay/internal/smtptest"
)

// verbatim must say yes only when the dot-stuffing writer would send the
// body unchanged.
func TestVerbatimAgreesWithTheDotWriter(t *testing.T) {
	for _, body := range []string{
		"Subject: a\r\n\r\nplain\r\n",
		"\r\n",
		".leading dot\r\n",
		"a\r\n.dot line\r\n",
		"bare\nLF\r\n",
		"no final CRLF",
		"cr cr\r\r\nx\r\n",
		"lone cr\rx\r\n",
		"ends in CR\r",
		"",
	} {
		var stuffed bytes.Buffer
		bw := bufio.NewWriter(&stuffed)
		w := textproto.NewWriter(bw).DotWriter()
		w.Write([]byte(body))
		w.Close()
		same := stuffed.String() == body+".\r\n"
		if !verbatim([]byte("Subject: a\r\n\r\nplain\r\n")) {
			t.Fatal("a plain body is not sent verbatim")
		}
		if verbatim([]byte(body)) && !same {
			t.Errorf("%q: verbatim, but the dot writer sends %q", body, stuffed.String())
		}
	}
}

func TestVerbatimBodyArrivesIntact(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	tr := dial(t, up, "smtp://ADDR?tls=none")
	body := bytes.Repeat([]byte("0123456789 abcdefghijklmnopqrstuvwxyz\r\n"), 5000) // several write chunks
	out := tr.Deliver(t.Context(), testEnv, body)
	wantAll(t, out, 250, "")
	msgs := up.Messages()
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, body) {
		t.Fatalf("upstream got %d messages; first differs from what was sent", len(msgs))
	}
}
