package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Backup copies a consistent copy of relayd's spool file to w and returns
// its size. relayd keeps serving meanwhile. A copy cut short (relayd
// stopped, the connection broke) is an error: what w got is then not a
// spool. No timeout applies unless ctx has one.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup from relayd at %s: cut after %d bytes: %w", c.ep, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("backup from relayd at %s: %d bytes of %d", c.ep, n, resp.ContentLength)
	}
	return n, nil
}
