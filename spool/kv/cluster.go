package kv

import (
	"context"
	"time"
)

// Cluster is what a driver adds when several relayd nodes share its
// storage (spool/pg). A DB that does not implement it is one node's.
type Cluster interface {
	// Self is this node, as registered when the DB was opened.
	Self() Node
	// Nodes lists every node the storage knows, this one included.
	Nodes() ([]Node, error)
	// Dead lists the nodes whose lease has run out, by the storage's
	// clock, and which this node may take over: it has itself kept its
	// own lease for at least a lease meanwhile, so that a node back from
	// an outage of the storage does not take over nodes that were only
	// cut off like itself.
	Dead() ([]Node, error)
	// Reaped records that a dead node's boot has been taken over: Dead no
	// longer lists it.
	Reaped(n Node) error
	// Notices carries notifications sent by other nodes' transactions
	// (see Notifier), and one with an empty Channel after every
	// reconnection of the listener, when notices may have been missed.
	Notices() <-chan Notice
	// Lead blocks until this node holds the cluster-wide lock called
	// name (or ctx ends), and returns a context that ends when the lock
	// is lost (the node's connection to the storage broke) or ctx ends.
	Lead(ctx context.Context, name string) (context.Context, error)
}

// Node is one relayd sharing the storage.
type Node struct {
	Name string `json:"name"`
	// Boot is a random ID of the node's current run: a restart under the
	// same name is another boot.
	Boot     string        `json:"boot"`
	Started  time.Time     `json:"started"`
	LastSeen time.Time     `json:"last_seen"`
	Lease    time.Duration `json:"lease"`
	Version  string        `json:"version,omitempty"`
	// Alive: its last heartbeat is within its lease.
	Alive bool `json:"alive"`
	// Self: this is the node that answers.
	Self bool `json:"self,omitempty"`
}

// Notice is a notification from another node.
type Notice struct {
	Channel, Payload string
}

// Notifier is an optional Tx method (Update only): payload is sent on
// channel to every node's Notices when the transaction commits, and not
// at all if it does not. Notices of one transaction that are equal are
// sent once.
type Notifier interface {
	Notify(channel, payload string)
}
