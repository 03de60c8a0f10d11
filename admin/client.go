package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"time"
)

// Client talks to relayd's admin API. It is safe for concurrent use.
// Every call ends when its context does, and only then: a drop waits for
// the deliveries in flight to end, which can take minutes, so the client
// sets no overall timeout of its own.
type Client struct {
	ep    endpoint
	token string
	base  string // URL prefix: the host part is a placeholder on a unix socket
	http  *http.Client
}

// maxResponse bounds what the client reads of a response, so a wrong
// address that streams forever cannot exhaust memory.
const maxResponse = 64 << 20

// NewClient returns a client for addr: "unix:/path/to/admin.sock", a TCP
// "host:port" or "http://host:port". token is sent as a bearer token when
// not empty; relayd requires one on TCP and ignores it on the socket.
func NewClient(addr, token string) (*Client, error) {
	ep, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, ep.network, ep.address)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
		// Proxy stays nil: admin traffic never goes through $HTTP_PROXY.
	}
	base := "http://" + ep.address
	if ep.network == "unix" {
		base = "http://relayd" // any host will do: the dialer ignores it
	}
	// Redirects are refused: they could carry the bearer token elsewhere.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{ep: ep, token: token, base: base, http: &http.Client{Transport: tr, CheckRedirect: noRedirect}}, nil
}

// Addr returns the address the client talks to, in --admin form.
func (c *Client) Addr() string { return c.ep.String() }

// Status returns relayd's counts, settings and pauses.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Credentials lists every credential, sorted by name.
func (c *Client) Credentials(ctx context.Context) ([]Credential, error) {
	var list []Credential
	err := c.do(ctx, http.MethodGet, "/v1/credentials", nil, &list)
	return list, err
}

// AddCredential creates a credential. The answer holds its generated
// password, which relayd never shows again.
func (c *Client) AddCredential(ctx context.Context, req AddCredentialRequest) (CredentialCreated, error) {
	var cc CredentialCreated
	err := c.do(ctx, http.MethodPost, "/v1/credentials", req, &cc)
	return cc, err
}

// Without a deadline from the caller, a request gives up after these: a
// wedged relayd must not hang relayctl in the middle of an incident. A
// change may legitimately wait for deliveries in flight (up to the
// server's 10 minutes), so it gets longer.
const (
	readTimeout   = time.Minute
	changeTimeout = 15 * time.Minute
)

// do sends in (if not nil) as JSON and decodes a 2xx answer into out.
// Other answers become *APIError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		d := changeTimeout
		if method == http.MethodGet {
			d = readTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer from relayd at %s: %w", method, path, c.ep, err)
	}
	return nil
}

// send makes a request and returns its answer if it is a 2xx; the caller
// closes its body. Other answers become *APIError.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(resp.StatusCode, io.LimitReader(resp.Body, maxResponse))
	}
	return resp, nil
}

// transportError explains a failure to reach relayd in the terms an
// operator acts on: is relayd running, am I the right user.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("relayd at %s: %w", c.ep, ctx.Err())
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return fmt.Errorf("relayd at %s: %w", c.ep, err)
	}
	switch {
	case c.ep.network == "unix" && errors.Is(op.Err, fs.ErrPermission):
		return fmt.Errorf("cannot reach relayd at %s: permission denied: run relayctl as the user that runs relayd (dial: %w)", c.ep, op.Err)
	case c.ep.network == "unix":
		return fmt.Errorf("cannot reach relayd at %s: is it running? (dial: %w)", c.ep, op.Err)
	}
	return fmt.Errorf("cannot reach relayd at %s: is it running, and is --admin right? (dial: %w)", c.ep, op.Err)
}

// APIError is an answer from relayd other than 2xx.
type APIError struct {
	Status  int    // HTTP status
	Code    string // one of the Code* constants; "" if the body was not an Error
	Message string
}

func (e *APIError) Error() string { return e.Message }

func decodeError(status int, r io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	var body Error
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		return &APIError{Status: status, Code: body.Error.Code, Message: body.Error.Message}
	}
	// Not relayd's JSON: perhaps something else listens at that address.
	return &APIError{Status: status, Message: fmt.Sprintf("unexpected answer %d %s", status, http.StatusText(status))}
}
