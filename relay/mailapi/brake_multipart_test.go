package mailapi

import (
	"github.com/holdrelay/relay/relay"
	"strings"
	"testing"
	"time"
)

// TestBrakeCatchesAnHTMLLoopOverTheMailAPI: the Mail Send API builds a
// multipart/alternative message for text and HTML content, with a fresh
// random boundary each time; the loop trigger must still see the same
// content (the same Subject and body) six times.
func TestBrakeCatchesAnHTMLLoopOverTheMailAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	html := strings.Replace(simple, `"content": [{"type": "text/plain", "value": "Heya!"}]`,
		`"content": [{"type": "text/plain", "value": "Heya!"}, {"type": "text/html", "value": "<p>Heya!</p>"}]`, 1)
	for range 6 {
		h.mustSend(html)
		h.clock.Advance(time.Second)
	}
	bs, err := h.spool.Brakes()
	if err != nil || len(bs) != 1 || bs[0].Trigger != "loop" || bs[0].Count != 6 {
		t.Fatalf("brakes after 6 copies of a text and HTML message over HTTP: %+v, %v", bs, err)
	}
}
