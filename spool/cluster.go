package spool

import (
	"context"

	"github.com/holdrelay/relay/spool/kv"
)

// Node is one relayd sharing the spool.
type Node = kv.Node

// Record kinds that RecordsChanged carries: another node changed records
// that each node keeps a copy of in memory.
const (
	RecordsCredentials = "credentials"
	RecordsDKIM        = "dkim"
	RecordsTokens      = "tokens"
	RecordsWebhooks    = "webhooks"
)

// Clustered reports whether other relayd nodes may share this spool.
func (s *Spool) Clustered() bool {
	_, ok := s.db.(kv.Cluster)
	return ok
}

// Nodes lists the nodes sharing the spool; nil on a spool of one node.
func (s *Spool) Nodes() ([]Node, error) {
	c, ok := s.db.(kv.Cluster)
	if !ok {
		return nil, nil
	}
	return c.Nodes()
}

// Cuts carries the IDs of messages this node is sending that an operator
// on another node dropped or held (they carry an Intent): the dispatcher
// aborts their attempts, as it does for its own operators. Nil on a spool
// of one node.
func (s *Spool) Cuts() <-chan []ID {
	return nil // TODO(lead)
}

// RecordsChanged carries a kind (RecordsCredentials, ...) when another
// node changed records of that kind, and "" when changes may have been
// missed (all kinds). Nil on a spool of one node.
func (s *Spool) RecordsChanged() <-chan string {
	return nil // TODO(lead)
}

// Lead blocks until this node holds the cluster-wide lock called name,
// and returns a context that ends when it loses it; on a spool of one
// node it returns ctx at once. Work that must run on one node only
// (webhook delivery) runs under it.
func (s *Spool) Lead(ctx context.Context, name string) (context.Context, error) {
	c, ok := s.db.(kv.Cluster)
	if !ok {
		return ctx, nil
	}
	return c.Lead(ctx, name)
}
