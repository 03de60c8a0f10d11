package admin

import (
	"context"
	"net/http"
	"net/url"
)

// Credential returns one credential, with its message counts and pause.
// relayd answers 404, CodeNotFound, if there is no such credential.
func (c *Client) Credential(ctx context.Context, name string) (CredentialDetails, error) {
	var d CredentialDetails
	err := c.do(ctx, http.MethodGet, credentialPath(name, ""), nil, &d)
	return d, err
}

// UpdateCredential changes the settings req names and keeps the others.
func (c *Client) UpdateCredential(ctx context.Context, name string, req UpdateCredentialRequest) (Credential, error) {
	var cr Credential
	err := c.do(ctx, http.MethodPatch, credentialPath(name, ""), req, &cr)
	return cr, err
}

// DisableCredential refuses the credential's logins, closes its sessions
// and holds its mail. It returns once none of its messages is being sent
// any more, which can take as long as an upstream's reply to a final dot.
func (c *Client) DisableCredential(ctx context.Context, name string, req CredentialChangeRequest) (CredentialDisabled, error) {
	var res CredentialDisabled
	err := c.do(ctx, http.MethodPost, credentialPath(name, "/disable"), req, &res)
	return res, err
}

// EnableCredential lets the credential log in again; its held messages
// stay held unless req.Release.
func (c *Client) EnableCredential(ctx context.Context, name string, req EnableCredentialRequest) (CredentialEnabled, error) {
	var res CredentialEnabled
	err := c.do(ctx, http.MethodPost, credentialPath(name, "/enable"), req, &res)
	return res, err
}

// RemoveCredential deletes the credential. Its messages stay in the spool.
func (c *Client) RemoveCredential(ctx context.Context, name string, req CredentialChangeRequest) (CredentialRemoved, error) {
	var res CredentialRemoved
	err := c.do(ctx, http.MethodDelete, credentialPath(name, ""), req, &res)
	return res, err
}

// RotatePassword gives the credential a new password, returned here once.
func (c *Client) RotatePassword(ctx context.Context, name string, req RotateRequest) (PasswordRotated, error) {
	var res PasswordRotated
	err := c.do(ctx, http.MethodPost, credentialPath(name, "/rotate"), req, &res)
	return res, err
}

func credentialPath(name, verb string) string {
	return "/v1/credentials/" + url.PathEscape(name) + verb
}
