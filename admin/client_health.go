package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Readiness is relayd's answer to GET /readyz.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"` // why not, when not: "starting", "draining", ...
}

// Ready asks relayd whether it is ready (GET /readyz, which needs no
// token). Not ready is an answer, not an error: the error is for a relayd
// that cannot be reached or answers something else.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return Readiness{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Readiness{}, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	line := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusOK:
		return Readiness{Ready: true}, nil
	case resp.StatusCode == http.StatusServiceUnavailable && strings.HasPrefix(line, "not ready: "):
		return Readiness{Reason: strings.TrimPrefix(line, "not ready: ")}, nil
	}
	return Readiness{}, fmt.Errorf("relayd at %s: GET /readyz: unexpected answer %d %s", c.ep, resp.StatusCode, http.StatusText(resp.StatusCode))
}
