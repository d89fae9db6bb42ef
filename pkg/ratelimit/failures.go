package ratelimit

import (
	"sync"
	"time"
)

// Failures counts recent failures per key (logins of an account, from an
// address): each key's count decays by one every Every. Callers reserve a
// failure before the attempt (Take), so that parallel attempts cannot all
// pass a check made before any of them failed, and give it back when the
// attempt succeeds (Refund). Safe for concurrent use; keys whose count has
// decayed to zero are forgotten.
type Failures struct {
	every   time.Duration
	now     func() time.Time
	maxKeys int

	mu     sync.Mutex // guards counts and ops
	counts map[string]*count
	ops    int
}

type count struct {
	n  float64
	at time.Time
}

// MaxKeys bounds the keys a Failures holds: past it, decayed keys are
// swept, and if that is not enough arbitrary keys are forgotten. About
// 150 bytes a key: some 20 MB at most.
const MaxKeys = 1 << 17

// NewFailures returns counts that decay by one every every; a zero every
// disables counting (every Take succeeds).
func NewFailures(every time.Duration) *Failures {
	return &Failures{every: every, now: time.Now, maxKeys: MaxKeys, counts: map[string]*count{}}
}

// WithClock replaces the clock (tests).
func (f *Failures) WithClock(now func() time.Time) *Failures {
	f.now = now
	return f
}

// Count is key's current count.
func (f *Failures) Count(key string) float64 {
	if f == nil || f.every <= 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.get(key, false)
	if c == nil {
		return 0
	}
	return c.n
}

// Take adds one to key's count when the sum stays within limit and returns
// the new count. Otherwise it adds nothing and says how long until one more
// fits. A limit of zero or less admits everything.
func (f *Failures) Take(key string, limit int) (ok bool, n float64, wait time.Duration) {
	if f == nil || f.every <= 0 || limit <= 0 {
		return true, 0, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.get(key, true)
	if c.n+1 > float64(limit) {
		return false, c.n, f.until(c.n, float64(limit))
	}
	c.n++
	return true, c.n, 0
}

// Add adds one to key's count whatever it is and returns the new count.
func (f *Failures) Add(key string) float64 {
	if f == nil || f.every <= 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.get(key, true)
	c.n++
	return c.n
}

// Refund takes back one failure that Take or Add reserved.
func (f *Failures) Refund(key string) {
	if f == nil || f.every <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.get(key, false); c != nil {
		c.n = max(0, c.n-1)
	}
}

// Wait is how long until one more failure fits within limit.
func (f *Failures) Wait(key string, limit int) time.Duration {
	if f == nil || f.every <= 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.get(key, false)
	if c == nil {
		return 0
	}
	return f.until(c.n, float64(limit))
}

// Len is the number of keys currently counted.
func (f *Failures) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.counts)
}

// until is how long a count of n takes to leave room for one more within limit.
func (f *Failures) until(n, limit float64) time.Duration {
	if n+1 <= limit {
		return 0
	}
	return time.Duration((n + 1 - limit) * float64(f.every))
}

// get returns key's decayed count, creating it when create is set. f.mu is held.
func (f *Failures) get(key string, create bool) *count {
	now := f.now()
	f.ops++
	if f.ops%sweepEvery == 0 {
		for k, c := range f.counts {
			if f.decay(c, now); c.n <= 0 {
				delete(f.counts, k)
			}
		}
	}
	c, ok := f.counts[key]
	if !ok {
		if !create {
			return nil
		}
		if len(f.counts) >= f.maxKeys {
			f.shrink(now)
		}
		c = &count{at: now}
		f.counts[key] = c
	}
	f.decay(c, now)
	return c
}

// shrink makes room for new keys: decayed ones go first, then arbitrary
// ones down to 7/8 of maxKeys. f.mu is held.
func (f *Failures) shrink(now time.Time) {
	for k, c := range f.counts {
		if f.decay(c, now); c.n <= 0 {
			delete(f.counts, k)
		}
	}
	for k := range f.counts {
		if len(f.counts) < f.maxKeys*7/8 {
			break
		}
		delete(f.counts, k)
	}
}

func (f *Failures) decay(c *count, now time.Time) {
	if el := now.Sub(c.at); el > 0 {
		c.n = max(0, c.n-float64(el)/float64(f.every))
		c.at = now
	}
}
