// Command fill writes messages straight into a relayd spool file, for
// bench/run.sh: a spool of a million messages in a minute or two, where
// filling it over SMTP at the accept rate would take most of the run. The
// spool must not be open (relayd stopped). The messages are what relayd
// would have stored for an SMTP client of the credential: waiting out a
// hold window, with a body of the given size.
//
//	go run ./bench/fill --spool DIR/spool.db --count 1000000 --size 1024 --credential default
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdrelay/relay/spool"
)

func main() {
	path := flag.String("spool", "", "spool file (relayd's <data>/spool.db); relayd must be stopped")
	count := flag.Int("count", 1000000, "messages to add")
	size := flag.Int("size", 1024, "body size in bytes")
	cred := flag.String("credential", "default", "credential the messages belong to")
	hold := flag.Duration("hold", time.Hour, "hold window: the messages wait this long")
	workers := flag.Int("workers", 256, "concurrent writers (one commit takes whatever they have queued)")
	flag.Parse()
	if *path == "" || *count < 1 || *size < 64 || *workers < 1 {
		flag.Usage()
		os.Exit(2)
	}
	sp, err := spool.Open(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := next.Add(1); n <= int64(*count); n = next.Add(1) {
				if err := add(sp, n, *size, *cred, *hold); err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "fill:", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := sp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
	el := time.Since(start)
	fmt.Printf("added=%d errors=%d elapsed=%.3fs rate=%.1f/s\n", int64(*count)-failed.Load(), failed.Load(), el.Seconds(),
		float64(int64(*count)-failed.Load())/el.Seconds())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

func add(sp *spool.Spool, n int64, size int, cred string, hold time.Duration) error {
	subject := fmt.Sprintf("fill %d", n)
	head := fmt.Sprintf("From: <load@example.com>\r\nTo: <sink@example.net>\r\nSubject: %s\r\nMessage-ID: <%d@fill>\r\n\r\n", subject, n)
	body := head + strings.Repeat("x", max(0, size-len(head)-2)) + "\r\n"
	now := time.Now()
	_, err := sp.Accept(spool.Incoming{
		Credential: cred,
		From:       "load@example.com",
		To:         []string{"sink@example.net"},
		Subject:    subject,
		MessageID:  fmt.Sprintf("<%d@fill>", n),
		Received:   now,
		Release:    now.Add(hold),
		Headers:    []spool.Header{{Name: "From", Value: "<load@example.com>"}, {Name: "To", Value: "<sink@example.net>"}, {Name: "Subject", Value: subject}},
	}, []byte(body))
	return err
}
