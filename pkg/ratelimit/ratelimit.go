// Package ratelimit is a keyed token-bucket limiter for slowing down repeated
// attempts (logins per user name, per client address). It holds a bucket per
// key in memory and forgets buckets that have refilled, so its size follows the
// number of keys that are being limited right now.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter allows Burst events at once per key and one more every Every.
// A zero Burst disables limiting. Safe for concurrent use.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex // guards buckets and ops
	buckets map[string]*bucket
	ops     int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// sweepEvery is how many operations pass between sweeps of refilled buckets.
const sweepEvery = 1024

// New returns a limiter of burst events per key, refilled by one every every.
func New(burst int, every time.Duration) *Limiter {
	return &Limiter{burst: float64(burst), every: every, now: time.Now, buckets: map[string]*bucket{}}
}

// WithClock replaces the clock (tests).
func (l *Limiter) WithClock(now func() time.Time) *Limiter {
	l.now = now
	return l
}

// Allow takes one event from key's bucket. When the bucket is empty it takes
// nothing and says how long until the next event is allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	return l.take(key, true)
}

// Check says whether key may have an event now, taking nothing.
func (l *Limiter) Check(key string) (bool, time.Duration) {
	return l.take(key, false)
}

// Len is the number of keys currently tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) take(key string, consume bool) (bool, time.Duration) {
	if l == nil || l.burst <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops++
	if l.ops%sweepEvery == 0 {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if !consume {
			return true, 0
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		if consume {
			b.tokens--
		}
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return false, wait
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if l.every <= 0 {
		b.tokens = l.burst
		return
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.at = now
	}
}

// sweep forgets buckets that are full again: they carry no information.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
