package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// conn is one session's way of sending a message (SMTP) or a request
// (HTTP): deliver sends number n and returns how long the server took to
// say it has it.
type conn interface {
	deliver(n int64) (time.Duration, error)
	quit()
	close()
}

// sender opens a worker's sessions.
type sender interface {
	dial(ctx context.Context) (conn, error)
}

func newSender(o options, worker int) sender {
	if o.apiKey != "" {
		return newHTTPSender(o, worker)
	}
	return &smtpSender{o: o, msg: newMessage(o, worker)}
}

type smtpSender struct {
	o   options
	msg *message
}

type smtpConn struct {
	*client
	s *smtpSender
}

func (s *smtpSender) dial(ctx context.Context) (conn, error) {
	c, err := dial(ctx, s.o)
	if err != nil {
		return nil, err
	}
	return smtpConn{c, s}, nil
}

func (c smtpConn) deliver(n int64) (time.Duration, error) {
	return c.send(c.s.o.from, c.s.o.to, c.s.msg.bytes(n))
}

// httpSender posts SendGrid Mail Send requests of perRequest
// personalizations, the text padded to --size per message, over one
// keep-alive connection per worker.
type httpSender struct {
	o      options
	url    string
	client *http.Client
	body   string // the request, with SEQ where the sequence number goes
}

func newHTTPSender(o options, worker int) *httpSender {
	var ps []string
	for i := range o.perRequest {
		ps = append(ps, fmt.Sprintf(`{"to":[{"email":%q}],"subject":"relayload %d.%d #SEQ"}`, o.to, worker, i))
	}
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; relayload fills to --size.\n", max(1, (o.size-512)/73))
	body := `{"personalizations":[` + strings.Join(ps, ",") + `],"from":{"email":` + strconv.Quote(o.from) +
		`},"content":[{"type":"text/plain","value":` + strconv.Quote(text) + `}]}`
	url := "http://" + o.addr + "/v3/mail/send"
	if strings.HasPrefix(o.addr, "http") {
		url = strings.TrimSuffix(o.addr, "/") + "/v3/mail/send"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1, ResponseHeaderTimeout: o.ioTimeout}
	return &httpSender{o: o, url: url, client: &http.Client{Transport: tr, Timeout: o.ioTimeout}, body: body}
}

func (s *httpSender) dial(context.Context) (conn, error) { return s, nil }

func (s *httpSender) deliver(n int64) (time.Duration, error) {
	req, err := http.NewRequest("POST", s.url, strings.NewReader(strings.ReplaceAll(s.body, "SEQ", strconv.FormatInt(n, 10))))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.o.apiKey)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("POST /v3/mail/send: %d %s", res.StatusCode, b)
	}
	return time.Since(start), nil
}

func (s *httpSender) quit()  {}
func (s *httpSender) close() { s.client.CloseIdleConnections() }
