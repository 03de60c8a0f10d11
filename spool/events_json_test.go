package spool

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// tricky are strings every escape of encoding/json meets.
var tricky = []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x08\x0c\x1f\x7f", "\n\r\t",
	"<a href='x'>&amp;</a>", "é ü 日本 🎉", "bad \xff\xfe utf-8 \xc3", "line\u2028sep\u2029", "\ufffd"}

func TestMessageDataJSONIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 1, 500, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return tricky[rng.IntN(len(tricky))] }
	for i := range 500 {
		d := messageData{MessageID: ID(rng.Uint64() >> 4).String(), Credential: pick(), From: pick(),
			Recipients: []string{pick(), pick()}, Subject: pick(), MessageIDHeader: pick(), BatchID: pick(),
			Categories: []string{}, UniqueArgs: map[string]string{}}
		if i%2 == 0 {
			d.Categories = []string{pick()}
			d.UniqueArgs = map[string]string{pick(): pick(), "k" + pick(): pick()}
			d.Attempt, d.Response, d.NextAttempt = rng.IntN(5), pick(), at.In(time.FixedZone("x", 3600))
			d.RecipientResponses = []rcptResponse{{pick(), pick()}, {pick(), pick()}}
			d.Actor, d.Reason, d.MaybeDelivered = pick(), pick(), rng.IntN(2) == 0
		}
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON\n%s\nencoding/json\n%s", got, want)
		}
	}
}
