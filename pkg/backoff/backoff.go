// Package backoff computes jittered exponential delays for reconnect loops.
// Every delay is drawn uniformly from [base/2, base] ("equal jitter"), so a
// crowd of clients that failed together spreads out instead of returning
// together, and base doubles per failure up to Max. Reset after a success.
package backoff

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff is a jittered exponential backoff. Safe for concurrent use.
type Backoff struct {
	// Min is the first base delay; Max caps it.
	Min, Max time.Duration

	mu       sync.Mutex // guards failures and rnd
	failures int
	rnd      func() float64 // in [0, 1)
	after    func(time.Duration) <-chan time.Time
}

// New returns a backoff from min to max.
func New(min, max time.Duration) *Backoff {
	return &Backoff{Min: min, Max: max, rnd: rand.Float64, after: time.After}
}

// WithRand replaces the random source (tests).
func (b *Backoff) WithRand(f func() float64) *Backoff { b.rnd = f; return b }

// WithAfter replaces the timer (tests).
func (b *Backoff) WithAfter(f func(time.Duration) <-chan time.Time) *Backoff { b.after = f; return b }

// Next records a failure and returns how long to wait before the next try.
func (b *Backoff) Next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	base := b.Min
	for i := 0; i < b.failures && base < b.Max; i++ {
		base *= 2
	}
	if base > b.Max {
		base = b.Max
	}
	b.failures++
	half := base / 2
	return half + time.Duration(b.rnd()*float64(base-half))
}

// Reset forgets the failures: the next delay is short again.
func (b *Backoff) Reset() {
	b.mu.Lock()
	b.failures = 0
	b.mu.Unlock()
}

// Wait sleeps for Next() or until ctx is done; it reports whether to go on.
func (b *Backoff) Wait(ctx context.Context) bool {
	d := b.Next()
	select {
	case <-ctx.Done():
		return false
	case <-b.after(d):
		return true
	}
}
