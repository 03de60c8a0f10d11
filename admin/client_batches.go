package admin

import (
	"context"
	"net/http"
	"net/url"
)

// Batches lists every batch relayd knows, in ID order.
func (c *Client) Batches(ctx context.Context) ([]Batch, error) {
	var list BatchList
	err := c.do(ctx, http.MethodGet, "/v1/batches", nil, &list)
	return list.Batches, err
}

// CreateBatch registers a batch; with an empty ID relayd makes one up.
func (c *Client) CreateBatch(ctx context.Context, req CreateBatchRequest) (Batch, error) {
	var b Batch
	err := c.do(ctx, http.MethodPost, "/v1/batches", req, &b)
	return b, err
}

// Batch returns one batch and its messages' counts per state.
func (c *Client) Batch(ctx context.Context, id string) (BatchDetails, error) {
	var d BatchDetails
	err := c.do(ctx, http.MethodGet, "/v1/batches/"+url.PathEscape(id), nil, &d)
	return d, err
}

// PauseBatch holds the batch's messages, and those that arrive later,
// until ResumeBatch.
func (c *Client) PauseBatch(ctx context.Context, id string, req BatchChangeRequest) (BatchChanged, error) {
	return c.changeBatch(ctx, id, "pause", req)
}

// ResumeBatch lifts a batch's pause or cancel: held messages go back on
// their schedule; dropped ones stay dropped.
func (c *Client) ResumeBatch(ctx context.Context, id string, req BatchChangeRequest) (BatchChanged, error) {
	return c.changeBatch(ctx, id, "resume", req)
}

// CancelBatch drops the batch's messages, and those that arrive later.
// It answers as truthfully as Drop.
func (c *Client) CancelBatch(ctx context.Context, id string, req BatchChangeRequest) (BatchChanged, error) {
	return c.changeBatch(ctx, id, "cancel", req)
}

func (c *Client) changeBatch(ctx context.Context, id, verb string, req BatchChangeRequest) (BatchChanged, error) {
	var out BatchChanged
	err := c.do(ctx, http.MethodPost, "/v1/batches/"+url.PathEscape(id)+"/"+verb, req, &out)
	return out, err
}
