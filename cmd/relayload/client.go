package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"
)

// client is a minimal SMTP client: one command, one reply, no pipelining,
// the way most applications talk. It is written out rather than taken from
// go-smtp so that the message goes out in one write, the final dot in the
// next, and the clock runs from that dot to the reply and nothing else.
type client struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// dial connects, reads the greeting, says EHLO, and does STARTTLS and AUTH
// as o asks.
func dial(ctx context.Context, o options) (*client, error) {
	d := net.Dialer{Timeout: o.ioTimeout}
	conn, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, err
	}
	if o.implicitTLS {
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	}
	c := &client{conn: conn, r: bufio.NewReader(conn), timeout: o.ioTimeout}
	if err := c.open(o); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *client) open(o options) error {
	if _, err := c.expect(220); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := c.cmd(250, "EHLO relayload.localhost"); err != nil {
		return err
	}
	if o.tls {
		if err := c.cmd(220, "STARTTLS"); err != nil {
			return err
		}
		c.conn = tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
		c.r = bufio.NewReader(c.conn)
		if err := c.cmd(250, "EHLO relayload.localhost"); err != nil {
			return err
		}
	}
	if o.user != "" {
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + o.user + "\x00" + o.pass))
		if err := c.cmd(235, "AUTH PLAIN "+cred); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	return nil
}

// send runs one mail transaction and returns how long the server took to
// answer the final dot.
func (c *client) send(from, to string, msg []byte) (time.Duration, error) {
	if err := c.cmd(250, "MAIL FROM:<"+from+">"); err != nil {
		return 0, err
	}
	if err := c.cmd(250, "RCPT TO:<"+to+">"); err != nil {
		return 0, err
	}
	if err := c.cmd(354, "DATA"); err != nil {
		return 0, err
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(msg); err != nil {
		return 0, fmt.Errorf("DATA: %w", err)
	}
	start := time.Now()
	if _, err := c.conn.Write([]byte(".\r\n")); err != nil {
		return 0, fmt.Errorf("DATA: %w", err)
	}
	if _, err := c.expect(250); err != nil {
		return 0, fmt.Errorf("end of data: %w", err)
	}
	return time.Since(start), nil
}

// quit says QUIT, without waiting long for the answer, and closes.
func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.conn.Write([]byte("QUIT\r\n")); err == nil {
		c.r.ReadString('\n')
	}
	c.conn.Close()
}

func (c *client) close() { c.conn.Close() }

func (c *client) cmd(want int, line string) error {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		return err
	}
	verb, _, _ := strings.Cut(line, " ")
	if _, err := c.expect(want); err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return nil
}

// expect reads one reply, all its lines, and fails unless its code is want.
func (c *client) expect(want int) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	var text []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			return "", fmt.Errorf("malformed reply %q", line)
		}
		text = append(text, line)
		if line[3] == ' ' {
			break
		}
	}
	last := text[len(text)-1]
	if last[:3] != fmt.Sprint(want) {
		return "", fmt.Errorf("server said %q", strings.Join(text, " / "))
	}
	return last, nil
}
