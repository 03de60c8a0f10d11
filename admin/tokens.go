package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// TokenInfo is one runtime admin token as GET /v1/tokens lists it: never
// its secret.
type TokenInfo struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// AddTokenRequest is the body of POST /v1/tokens.
type AddTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"` // "operator" or "support"
}

// TokenCreated answers POST /v1/tokens: the secret, shown this once.
type TokenCreated struct {
	TokenInfo
	Secret string `json:"secret"`
}

// ConsoleLinkRequest is the body of POST /v1/console-links.
type ConsoleLinkRequest struct {
	Role string `json:"role,omitempty"` // "" = operator
}

// ConsoleLink is a one-time sign-in link to the web console: good once,
// until Expires.
type ConsoleLink struct {
	URL     string    `json:"url"`
	Name    string    `json:"name"` // the session's name: the audit's actor is console:NAME
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

// ConsoleLinkTTL is how long a sign-in link stays good.
const ConsoleLinkTTL = 15 * time.Minute

// Tokens lists the runtime admin tokens (not those of --admin-tokens).
func (c *Client) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var list []TokenInfo
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &list)
	return list, err
}

// AddToken makes a runtime admin token. Its secret is in the answer only.
func (c *Client) AddToken(ctx context.Context, req AddTokenRequest) (TokenCreated, error) {
	var tc TokenCreated
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &tc)
	return tc, err
}

// RemoveToken removes a runtime admin token: it stops working at once.
func (c *Client) RemoveToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, nil)
}

// ConsoleLink makes a one-time sign-in link to the web console.
func (c *Client) ConsoleLink(ctx context.Context, req ConsoleLinkRequest) (ConsoleLink, error) {
	var l ConsoleLink
	err := c.do(ctx, http.MethodPost, "/v1/console-links", req, &l)
	return l, err
}
