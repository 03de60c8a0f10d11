package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// DKIM key algorithms.
const (
	DKIMRSA     = "rsa" // RSA-2048, the default
	DKIMEd25519 = "ed25519"
)

// AddDKIMRequest is POST /v1/dkim: make a key for Domain. An empty
// Selector is relayd's default ("relay" and today's date); an empty
// Algorithm is rsa.
type AddDKIMRequest struct {
	Domain    string `json:"domain"`
	Selector  string `json:"selector,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
}

// DKIMKey is a DKIM signing key as the API shows it: never its private
// half, only the DNS TXT record that publishes its public half.
type DKIMKey struct {
	Domain    string    `json:"domain"`
	Selector  string    `json:"selector"`
	Algorithm string    `json:"algorithm"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Name is where to publish Record: SELECTOR._domainkey.DOMAIN.
	Name   string `json:"name"`
	Record string `json:"record"`
	// Zone is the record as a zone-file line, cut into quoted strings of
	// at most 255 characters, the most one DNS TXT string holds.
	Zone string `json:"zone"`
}

// DKIMRemoved answers DELETE /v1/dkim/{domain}.
type DKIMRemoved struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
}

// DKIMKeys lists every key, by domain then selector.
func (c *Client) DKIMKeys(ctx context.Context) ([]DKIMKey, error) {
	var list []DKIMKey
	err := c.do(ctx, http.MethodGet, "/v1/dkim", nil, &list)
	return list, err
}

// AddDKIM makes a key in relayd and returns its DNS record. relayd
// answers 409, CodeExists, for a domain and selector that have one.
func (c *Client) AddDKIM(ctx context.Context, req AddDKIMRequest) (DKIMKey, error) {
	var k DKIMKey
	err := c.do(ctx, http.MethodPost, "/v1/dkim", req, &k)
	return k, err
}

// RemoveDKIM deletes a domain's key. An empty selector names the
// domain's only key; relayd refuses it (CodeInvalid) when there are
// several.
func (c *Client) RemoveDKIM(ctx context.Context, domain, selector string) (DKIMRemoved, error) {
	var res DKIMRemoved
	path := "/v1/dkim/" + url.PathEscape(domain)
	if selector != "" {
		path += "?" + url.Values{"selector": {selector}}.Encode()
	}
	err := c.do(ctx, http.MethodDelete, path, nil, &res)
	return res, err
}
