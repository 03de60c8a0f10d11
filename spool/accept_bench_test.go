//go:build unix

package spool

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool/bolt"
)

// BenchmarkAcceptOne measures what one SMTP session's message costs the
// spool: an Accept of 10 KiB with its main headers, committed alone (one
// writer, so no group shares the fsyncs), and with 20 writers sharing
// commits. Besides ns/op it reports bbolt's writes per message (one per
// page, or per run of pages that one node spans), the time spent writing
// and syncing them (bbolt's WriteTime: both pwrite passes and both
// fdatasyncs), and the process's user and system CPU per message. A
// commit's first fdatasync costs more the more separate runs of pages it
// flushes (measured on this project's virtio disk: about 0.3 ms for up to
// 3 runs, 0.75 ms for the 20 or so of a lone accept).
//
//	go test -run '^$' -bench AcceptOne -benchtime 2000x ./spool/
func BenchmarkAcceptOne(b *testing.B) {
	boltOnly(b)
	for _, writers := range []int{1, 20} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchAccept(b, writers) })
	}
}

func benchAccept(b *testing.B, writers int) {
	s := benchSpool(b)
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 10<<10/74)
	in := Incoming{Credential: "app", From: "app@example.com", To: []string{"user@example.net"},
		Subject: "bench", MessageID: "<bench@example.com>",
		Headers: []Header{{Name: "From", Value: "app@example.com"}, {Name: "To", Value: "user@example.net"},
			{Name: "Subject", Value: "bench"}, {Name: "Message-ID", Value: "<bench@example.com>"}}}
	// Warm up: the file's first pages and buckets.
	for range 50 {
		in.Received = time.Now()
		in.Release = in.Received.Add(time.Hour)
		if _, err := s.Accept(in, body); err != nil {
			b.Fatal(err)
		}
	}
	before := s.db.(*bolt.DB).Bolt().Stats().TxStats
	user0, sys0 := cpuTime()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan struct{}, b.N)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	for range writers {
		wg.Go(func() {
			in := in
			for range next {
				in.Received = time.Now()
				in.Release = in.Received.Add(time.Hour)
				if _, err := s.Accept(in, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	user, sys := cpuTime()
	user, sys = user-user0, sys-sys0
	st := s.db.(*bolt.DB).Bolt().Stats().TxStats
	n := float64(b.N)
	b.ReportMetric(float64(st.GetWrite()-before.GetWrite())/n, "writes/msg")
	b.ReportMetric(float64((st.GetWriteTime()-before.GetWriteTime()).Microseconds())/n, "write-µs/msg")
	b.ReportMetric(float64(user.Microseconds())/n, "user-µs/msg")
	b.ReportMetric(float64(sys.Microseconds())/n, "sys-µs/msg")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
