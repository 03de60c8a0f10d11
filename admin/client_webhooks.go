package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Webhooks lists every webhook, sorted by name.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var list []Webhook
	err := c.do(ctx, http.MethodGet, "/v1/webhooks", nil, &list)
	return list, err
}

// Webhook returns one webhook with its sender's state. relayd answers
// 404, CodeNotFound, if there is no such webhook.
func (c *Client) Webhook(ctx context.Context, name string) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, http.MethodGet, webhookPath(name, ""), nil, &w)
	return w, err
}

// AddWebhook subscribes a webhook. The answer holds its signing secret or
// public key, which relayd never shows again.
func (c *Client) AddWebhook(ctx context.Context, req AddWebhookRequest) (WebhookCreated, error) {
	var res WebhookCreated
	err := c.do(ctx, http.MethodPost, "/v1/webhooks", req, &res)
	return res, err
}

// RemoveWebhook deletes a webhook; events not yet sent to it are not.
func (c *Client) RemoveWebhook(ctx context.Context, name string) (WebhookRemoved, error) {
	var res WebhookRemoved
	err := c.do(ctx, http.MethodDelete, webhookPath(name, ""), nil, &res)
	return res, err
}

// TestWebhook writes a webhook.test event for that webhook alone.
func (c *Client) TestWebhook(ctx context.Context, name string) (WebhookTested, error) {
	var res WebhookTested
	err := c.do(ctx, http.MethodPost, webhookPath(name, "/test"), nil, &res)
	return res, err
}

func webhookPath(name, verb string) string {
	return "/v1/webhooks/" + url.PathEscape(name) + verb
}

// maxEventLine bounds one line of the event stream: an event's data is a
// message's envelope and a few headers, far below it.
const maxEventLine = 1 << 20

// Events calls fn with each event req selects, oldest first, until the
// stream ends: at once without Follow, else when ctx ends (then Events
// returns nil) or relayd shuts down (an error). An error from fn ends the
// stream and is returned.
func (c *Client) Events(ctx context.Context, req EventsRequest, fn func(OutboxEvent) error) error {
	if !req.Follow {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readTimeout)
		defer cancel()
	}
	path := "/v1/events?" + req.query().Encode()
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	for sc.Scan() {
		var e OutboxEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("GET /v1/events: bad line from relayd at %s: %w", c.ep, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	switch err := sc.Err(); {
	case req.Follow && ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("GET /v1/events: relayd at %s: %w", c.ep, err)
	case req.Follow:
		// Only relayd's shutdown ends a stream that follows: a script
		// should know, to start again with --after.
		return fmt.Errorf("relayd at %s ended the event stream: it is shutting down", c.ep)
	}
	return nil
}

func (r EventsRequest) query() url.Values {
	q := r.Selector.Query()
	if r.After != nil {
		q.Set("after", strconv.FormatUint(*r.After, 10))
	}
	for _, t := range r.Types {
		q.Add("type", t)
	}
	if r.Follow {
		q.Set("follow", "true")
	}
	return q
}
