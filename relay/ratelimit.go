package relay

import (
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/clock"
)

// rateLimiter enforces each credential's messages-per-minute limit with a
// token bucket: a full minute's allowance may be spent at once, then it
// refills evenly.
type rateLimiter struct {
	clock   clock.Clock
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(clk clock.Clock) *rateLimiter {
	return &rateLimiter{clock: clk, buckets: map[string]*bucket{}}
}

// take spends n messages of cred's allowance of perMinute, all or none,
// and reports whether there were so many. perMinute <= 0 means no limit.
func (r *rateLimiter) take(cred string, perMinute, n int) bool {
	if perMinute <= 0 {
		return true
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[cred]
	if b == nil {
		b = &bucket{tokens: float64(perMinute), last: now}
		r.buckets[cred] = b
	}
	b.tokens += now.Sub(b.last).Minutes() * float64(perMinute)
	b.tokens = min(b.tokens, float64(perMinute))
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
