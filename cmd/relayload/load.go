package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// options is everything a run needs, filled from the flags.
type options struct {
	addr        string
	user, pass  string
	size        int
	count       int
	concurrency int
	newConn     bool // one connection per message, as smtp-source does by default
	tls         bool // STARTTLS before AUTH
	implicitTLS bool // TLS from the first byte (smtps)
	from, to    string
	timeout     time.Duration // bounds the whole run
	ioTimeout   time.Duration // bounds each command
	// apiKey switches to SendGrid's Mail Send API over HTTP at addr
	// (relayd's --http-listen): each request carries perRequest messages
	// (personalizations), and count counts requests.
	apiKey     string
	perRequest int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("relayload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:2525", "SMTP server address")
	fs.StringVar(&o.user, "user", "", "AUTH PLAIN username (none: no AUTH, e.g. a trusted network)")
	fs.StringVar(&o.pass, "password", "", "AUTH PLAIN password")
	fs.IntVar(&o.size, "size", 10<<10, "message size in bytes, headers included")
	fs.IntVar(&o.count, "count", 1000, "messages to send in all")
	fs.IntVar(&o.concurrency, "concurrency", 1, "concurrent SMTP sessions")
	fs.BoolVar(&o.newConn, "new-conn-per-message", false, "open a new connection (EHLO, AUTH) for every message")
	fs.BoolVar(&o.tls, "tls", false, "STARTTLS before AUTH (the certificate is not verified: loopback benchmarks only)")
	fs.BoolVar(&o.implicitTLS, "tls-implicit", false, "TLS from the first byte, as on an smtps port (not verified either)")
	fs.StringVar(&o.from, "from", "load@example.com", "envelope sender")
	fs.StringVar(&o.to, "to", "sink@example.net", "envelope recipient")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on the whole run after this long")
	fs.DurationVar(&o.ioTimeout, "io-timeout", time.Minute, "give up on a session when one command takes this long")
	fs.StringVar(&o.apiKey, "api-key", "", "send over the HTTP Mail Send API (POST /v3/mail/send at --addr) with this API key, instead of SMTP; --count counts requests")
	fs.IntVar(&o.perRequest, "personalizations", 1, "with --api-key: messages (personalizations) per request")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: relayload [flags]\n\nSends --count messages over --concurrency SMTP sessions and prints the rate\nand the latency of the 250 after the final dot (p50, p99).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case o.count < 1 || o.concurrency < 1:
		return o, errors.New("--count and --concurrency must be at least 1")
	case o.size < 256:
		return o, errors.New("--size must be at least 256 bytes")
	case (o.user == "") != (o.pass == ""):
		return o, errors.New("--user and --password go together")
	case o.tls && o.implicitTLS:
		return o, errors.New("--tls and --tls-implicit exclude each other")
	case o.perRequest < 1 || o.perRequest > 1000:
		return o, errors.New("--personalizations must be 1 to 1000")
	case o.apiKey != "" && (o.user != "" || o.tls || o.implicitTLS):
		return o, errors.New("--api-key excludes --user, --tls and --tls-implicit")
	case o.timeout <= 0 || o.ioTimeout <= 0:
		return o, errors.New("--timeout and --io-timeout must be positive")
	}
	o.concurrency = min(o.concurrency, o.count)
	return o, nil
}

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "relayload:", err)
		return 2
	}
	res := run(ctx, o)
	fmt.Fprintln(stdout, res)
	for _, e := range res.firstErrs {
		fmt.Fprintln(stderr, "relayload:", e)
	}
	if res.failed > 0 || res.sent < o.count {
		return 1
	}
	return 0
}

// result is a run's outcome. Its String is one line of key=value pairs,
// for people and for bench/run.sh alike.
type result struct {
	sent, failed int
	elapsed      time.Duration
	lat          []time.Duration // of each 250 after the dot (HTTP: each 202), sorted
	firstErrs    []error
	perRequest   int // HTTP: messages per request; 0 for SMTP
}

func (r result) percentile(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, len(r.lat)*p/100)]
}

func (r result) String() string {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.sent) / r.elapsed.Seconds()
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }
	line := fmt.Sprintf("sent=%d errors=%d elapsed=%.3fs rate=%.1f/s p50=%s p99=%s",
		r.sent, r.failed, r.elapsed.Seconds(), rate, ms(r.percentile(50)), ms(r.percentile(99)))
	if r.perRequest > 0 { // HTTP: sent and rate count requests
		line += fmt.Sprintf(" messages=%d msgrate=%.1f/s", r.sent*r.perRequest, rate*float64(r.perRequest))
	}
	return line
}

// run sends o.count messages over o.concurrency sessions. Each worker takes
// the next message number until none is left, the run's deadline passes,
// or its session fails (then it counts the message as failed and opens a
// new session for the next one).
func run(ctx context.Context, o options) result {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		res     result
		wg      sync.WaitGroup
		maxErrs = 5
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.failed++
		if len(res.firstErrs) < maxErrs {
			res.firstErrs = append(res.firstErrs, err)
		}
	}
	if o.apiKey != "" {
		res.perRequest = o.perRequest
	}
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			send := newSender(o, w)
			var lat []time.Duration
			var c conn
			defer func() {
				if c != nil {
					c.quit()
				}
				mu.Lock()
				res.lat = append(res.lat, lat...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				n := next.Add(1)
				if n > int64(o.count) {
					return
				}
				if c == nil {
					var err error
					if c, err = send.dial(ctx); err != nil {
						fail(err)
						continue
					}
				}
				d, err := c.deliver(n)
				if err != nil {
					fail(err)
					c.close()
					c = nil
					continue
				}
				lat = append(lat, d)
				if o.newConn {
					c.quit()
					c = nil
				}
			}
		}(w)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.sent = len(res.lat)
	if ctx.Err() != nil && res.sent+res.failed < o.count {
		res.firstErrs = append(res.firstErrs, fmt.Errorf("stopped after %v with %d of %d messages sent: %w",
			o.timeout, res.sent, o.count, ctx.Err()))
	}
	slices.Sort(res.lat)
	return res
}
