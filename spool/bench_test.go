package spool

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/holdrelay/relay/spool/bolt"
)

// fill inserts n waiting messages straight into the spool, in large
// transactions: the benchmarks below measure the operations, not the
// SMTP accepts that would have filled a real spool.
func fill(b *testing.B, s *Spool, n int, cred string, body []byte) {
	b.Helper()
	const chunk = 20000
	for done := 0; done < n; {
		k := min(chunk, n-done)
		err := s.update(func(t *txn) error {
			for i := 0; i < k; i++ {
				id, err := t.nextID(t0)
				if err != nil {
					return err
				}
				m := Message{ID: id, Credential: cred, From: "app@example.com", Size: int64(len(body)),
					Rcpts: []Recipient{{Addr: fmt.Sprintf("user%d@example.net", done+i)}}, Subject: "bulk",
					Received: t0, Release: t0.Add(time.Hour), State: Waiting}
				if err := t.insert(&m, body, benchHeaders(m.Rcpts[0].Addr), Event{Time: t0, State: Waiting, Actor: "smtp"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += k
	}
}

// benchHeaders are main headers of the size the intake keeps for a
// typical message.
func benchHeaders(to string) []Header {
	return []Header{{Name: "From", Value: "App <app@example.com>"}, {Name: "To", Value: to},
		{Name: "Subject", Value: "Your order 1042 has shipped"}, {Name: "Date", Value: "Thu, 26 Nov 2026 12:00:00 +0000"},
		{Name: "Message-ID", Value: "<0a1b2c3d-4e5f-6789-abcd-ef0123456789@app.example.com>"}}
}

// reportCommits adds what a bulk action cost besides wall time: CPU,
// bytes of pages written, and the time bbolt spent spilling nodes and
// writing pages (fsyncs included).
func reportCommits(b *testing.B, d bbolt.Stats, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Milliseconds()), "cpu-ms/op")
	b.ReportMetric(float64(d.TxStats.GetPageAlloc())/(1<<20), "MB-dirty/op")
	b.ReportMetric(float64(d.TxStats.GetWrite()), "writes/op")
	b.ReportMetric(float64(d.TxStats.GetSpillTime().Milliseconds()), "spill-ms/op")
	b.ReportMetric(float64(d.TxStats.GetWriteTime().Milliseconds()), "write-ms/op")
	b.ReportMetric(float64(d.TxStats.GetRebalanceTime().Milliseconds()), "rebal-ms/op")
}

func benchSpool(b *testing.B) *Spool {
	b.Helper()
	s, err := openPath(b, filepath.Join(b.TempDir(), "spool.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkBulk100k: drop, hold and flush of 100,000 spooled messages by
// one selector (--credential), with 10,000 messages of another credential
// left alone. Target: under 1 s each.
//
//	go test -run '^$' -bench Bulk -benchtime 1x ./spool/
func BenchmarkBulk100k(b *testing.B) {
	boltOnly(b)
	body := make([]byte, 1024)
	ev := Event{Time: t0.Add(time.Minute), Actor: "uid:0", Reason: "bench"}
	for _, tc := range []struct {
		name string
		do   func(*Spool, Selector) (Result, error)
	}{
		{"drop", func(s *Spool, sel Selector) (Result, error) { return s.Drop(sel, ev, false) }},
		{"hold", func(s *Spool, sel Selector) (Result, error) { return s.Hold(sel, ev, false) }},
		{"flush", func(s *Spool, sel Selector) (Result, error) { return s.Flush(sel, ev, false) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := benchSpool(b)
				fill(b, s, 100000, "runaway", body)
				fill(b, s, 10000, "other", body)
				st0 := s.db.(*bolt.DB).Bolt().Stats()
				user0, sys0 := cpuTime()
				b.StartTimer()
				res, err := tc.do(s, Selector{Credential: "runaway"})
				if err != nil || res.Count(Changed) != 100000 {
					b.Fatalf("%s: %v %v", tc.name, res.Counts(), err)
				}
				b.StopTimer()
				st1 := s.db.(*bolt.DB).Bolt().Stats()
				user1, sys1 := cpuTime()
				reportCommits(b, st1.Sub(&st0), user1-user0+sys1-sys0)
			}
		})
	}
}

// BenchmarkListFirstPage1M: the first page (50) of queue ls with 1,000,000
// messages spooled. Target: under 50 ms.
//
//	go test -run '^$' -bench ListFirstPage -benchtime 100x ./spool/
func BenchmarkListFirstPage1M(b *testing.B) {
	s := benchSpool(b)
	fill(b, s, 1000000, "app", make([]byte, 128))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, next, err := s.List(Selector{}, 0, 50)
		if err != nil || len(msgs) != 50 || next == 0 {
			b.Fatalf("list: %d messages, next %v, %v", len(msgs), next, err)
		}
	}
}
