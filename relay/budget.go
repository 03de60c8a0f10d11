package relay

import "sync/atomic"

// budget bounds the memory held by the messages being received, across
// every session of the intake. A session charges each buffer before it
// allocates it and gives the charge back when the message is spooled or
// refused. Without it, memory grew with connections × message size (100
// sessions streaming 20 MiB each took relayd to 3.5 GiB), and one
// credential was enough to kill the daemon. When the budget is spent, the
// message is refused with 452 4.3.1, a temporary failure the client
// retries, rather than waiting: sessions waiting for each other's memory
// could wait for ever.
type budget struct {
	max     int64 // negative: no limit
	used    atomic.Int64
	metrics *Metrics
}

// take charges n bytes, or reports that they would overspend the budget.
func (b *budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if b.max >= 0 && u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.metrics.inflight(n)
			return true
		}
	}
}

func (b *budget) give(n int64) {
	b.used.Add(-n)
	b.metrics.inflight(-n)
}

// inUse is what the sessions hold now.
func (b *budget) inUse() int64 { return b.used.Load() }

// MinInflightBytes is the smallest budget that lets a message of maxMessage
// bytes through when it arrives alone: when it is complete, its chunks are
// joined into one piece for the spool, so for a moment it takes twice its
// size, and its last chunk may be up to maxChunk larger than it.
func MinInflightBytes(maxMessage int64) int64 {
	return 2*maxMessage + 2*maxChunk
}
