package admin

import (
	"context"
	"net/http"
	"net/url"
)

// Brakes lists the credentials the runaway brake holds.
func (c *Client) Brakes(ctx context.Context) ([]Brake, error) {
	var out []Brake
	err := c.do(ctx, http.MethodGet, "/v1/brakes", nil, &out)
	return out, err
}

// ReleaseBrake takes the brake off a credential: its held mail goes back
// on its schedule and the brake re-arms with fresh counts. relayd answers
// 409, CodeNotBraked, if the credential is not braked, and 404 if there
// is no such credential.
func (c *Client) ReleaseBrake(ctx context.Context, name string, req BrakeReleaseRequest) (BrakeReleased, error) {
	var out BrakeReleased
	err := c.do(ctx, http.MethodPost, "/v1/brakes/"+url.PathEscape(name)+"/release", req, &out)
	return out, err
}
