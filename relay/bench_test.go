package relay

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// BenchmarkAccept measures durable accepts of 10 KiB messages over
// authenticated sessions, each sending message after message on its own
// connection. It reports messages/s and the latency of the 250 that
// follows the final dot (the part the fsync'd spool costs), p50 and p99.
// The hold is an hour, so the dispatcher stays out of the measurement.
//
//	make bench   (or: go test -run '^$' -bench Accept ./relay/)
func BenchmarkAccept(b *testing.B) {
	for _, sessions := range []int{1, 20} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			benchAccept(b, sessions)
		})
	}
}

func benchAccept(b *testing.B, sessions int) {
	h := newHarness(b, harnessConfig{intake: IntakeConfig{Hold: time.Hour}})
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 10<<10/74)
	msg := append([]byte(message("bench")), body...)

	clients := make([]*smtp.Client, sessions)
	for i := range clients {
		c, err := smtp.Dial(h.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}

	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	next := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		next <- struct{}{}
	}
	close(next)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *smtp.Client) {
			defer wg.Done()
			var mine []time.Duration
			for range next {
				d, err := sendTimed(c, msg)
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// sendTimed sends one message and times the final dot's 250.
func sendTimed(c *smtp.Client, msg []byte) (time.Duration, error) {
	if err := c.Mail("app@example.com", nil); err != nil {
		return 0, err
	}
	if err := c.Rcpt("user@example.net", nil); err != nil {
		return 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(w, bytes.NewReader(msg)); err != nil {
		return 0, err
	}
	start := time.Now()
	err = w.Close()
	return time.Since(start), err
}
