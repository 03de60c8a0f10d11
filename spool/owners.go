package spool

import (
	"bytes"

	"github.com/holdrelay/relay/spool/kv"
)

// On a shared spool every sending message has an entry in the owners
// bucket naming the node whose attempt it is (name, a zero byte, its
// boot), written by the transition into sending and removed by the one out
// of it. It is how a drop on one node reaches the transfer on another
// (cut), and how a dead node's attempts are found and taken over
// (takeOver). A spool of one node keeps none: it knows it runs them all.

func ownerValue(n kv.Node) []byte {
	return append(append([]byte(n.Name), 0), n.Boot...)
}

// ownerName is the node name in an owners value.
func ownerName(v []byte) string {
	name, _, _ := bytes.Cut(v, []byte{0})
	return string(name)
}

func (t *txn) own(id ID, sending bool) error {
	if sending {
		return t.owners.Put(id.key(), t.owner)
	}
	return t.del(t.owners, id.key())
}

// cut tells the node sending id, if it is another, that an operator
// wants its attempt ended (the message carries an Intent by now).
func (t *txn) cut(id ID) error {
	v := t.lookup(t.owners, id.key())
	if v == nil || bytes.Equal(v, t.owner) {
		return nil
	}
	t.notify(noticeCut, ownerName(v))
	return nil
}

// notify queues a notice for the other nodes, sent if the transaction
// commits.
func (t *txn) notify(channel, payload string) {
	if t.owner == nil {
		return
	}
	if t.notices == nil {
		t.notices = map[[2]string]bool{}
	}
	t.notices[[2]string{channel, payload}] = true
}

// Notice channels between nodes.
const (
	noticeCut     = "cut"     // payload: the node whose attempts carry new Intents
	noticeEvents  = "events"  // the outbox has new events
	noticeRecords = "records" // payload: a Records* kind
)
