package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListMessages returns one page of the messages req selects, newest first.
func (c *Client) ListMessages(ctx context.Context, req ListRequest) (MessageList, error) {
	q := req.Selector.Query()
	if req.Cursor != "" {
		q.Set("cursor", req.Cursor)
	}
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	path := "/v1/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list MessageList
	err := c.do(ctx, http.MethodGet, path, nil, &list)
	return list, err
}

// Message returns one message's record, main headers and history.
func (c *Client) Message(ctx context.Context, id string) (MessageDetails, error) {
	var d MessageDetails
	err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, &d)
	return d, err
}

// Raw copies a pending message, exactly as received, to w. A finished
// message has no body any more: relayd answers 410, CodeGone.
func (c *Client) Raw(ctx context.Context, id string, w io.Writer) error {
	path := "/v1/messages/" + url.PathEscape(id) + "/raw"
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("message %s: %w", id, err)
	}
	return nil
}

// Flush makes the selected messages due now, held ones included.
func (c *Client) Flush(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return c.act(ctx, "flush", req)
}

// Drop drops the selected pending messages: they will never be sent. It
// returns once the outcome of every message being sent is known, so a
// message it reports dropped cannot be delivered any more.
func (c *Client) Drop(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return c.act(ctx, "drop", req)
}

// Hold holds the selected messages until Release. Like Drop, it returns
// once every message being sent is held or known to be delivered.
func (c *Client) Hold(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return c.act(ctx, "hold", req)
}

// Release puts held messages back on their schedule.
func (c *Client) Release(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return c.act(ctx, "release", req)
}

// Purge drops every pending message the selector matches, as Drop does;
// an empty selector means all of them. It is recorded as a purge.
func (c *Client) Purge(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return c.act(ctx, "purge", req)
}

func (c *Client) act(ctx context.Context, action string, req ActionRequest) (ActionResult, error) {
	var res ActionResult
	err := c.do(ctx, http.MethodPost, "/v1/"+action, req, &res)
	var ae *APIError
	if req.CountsOnly && errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.Contains(ae.Message, `"counts_only"`) {
		// A relayd older than counts_only (say, not yet restarted after
		// an upgrade) refuses the field before it changes anything: ask
		// again without it, and take the IDs.
		req.CountsOnly = false
		res = ActionResult{}
		err = c.do(ctx, http.MethodPost, "/v1/"+action, req, &res)
	}
	return res, err
}

// Pause stops delivery, for one credential or all. Accepting goes on:
// new messages arrive held.
func (c *Client) Pause(ctx context.Context, req PauseRequest) (PauseResult, error) {
	var res PauseResult
	err := c.do(ctx, http.MethodPost, "/v1/pause", req, &res)
	return res, err
}

// Resume ends a pause. relayd answers 404 if there is no such pause.
func (c *Client) Resume(ctx context.Context, req ResumeRequest) (ResumeResult, error) {
	var res ResumeResult
	err := c.do(ctx, http.MethodPost, "/v1/resume", req, &res)
	return res, err
}

// Audit returns up to limit audit entries (0 = 50), newest first, with
// sequence numbers below before (0: from the newest).
func (c *Client) Audit(ctx context.Context, limit int, before uint64) (AuditList, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before != 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	path := "/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list AuditList
	err := c.do(ctx, http.MethodGet, path, nil, &list)
	return list, err
}
