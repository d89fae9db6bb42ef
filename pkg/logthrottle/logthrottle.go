// Package logthrottle keeps a repeated log line (a failure from one address,
// say) to one per key per period, with the number of occurrences it stands
// for, so that a flood of failures cannot flood the log.
package logthrottle

import (
	"sync"
	"time"
)

// Throttle decides which occurrences of a key are logged. Safe for
// concurrent use.
type Throttle struct {
	every time.Duration
	now   func() time.Time
	max   int

	mu   sync.Mutex // guards keys
	keys map[string]*entry
}

type entry struct {
	logged time.Time // when the last line of this key was written
	held   int       // occurrences since, not logged
}

// DefaultMaxKeys bounds the keys a Throttle remembers.
const DefaultMaxKeys = 10000

// New returns a throttle of one line per key every every.
func New(every time.Duration) *Throttle {
	return &Throttle{every: every, now: time.Now, max: DefaultMaxKeys, keys: map[string]*entry{}}
}

// WithClock replaces the clock (tests).
func (t *Throttle) WithClock(now func() time.Time) *Throttle {
	t.now = now
	return t
}

// Note records one occurrence of key. When a line should be written now it
// returns true and the number of occurrences the line stands for: this one
// and those held back since key's last line.
func (t *Throttle) Note(key string) (bool, int) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.keys[key]
	if ok && now.Sub(e.logged) < t.every {
		e.held++
		return false, 0
	}
	n := 1
	if ok {
		n += e.held
	} else if len(t.keys) >= t.max {
		t.forget(now)
	}
	t.keys[key] = &entry{logged: now}
	return true, n
}

// forget drops keys whose period is over (their held occurrences are
// reported by nobody: a key that stops occurring needs no more lines) and,
// if that is not enough, all of them. t.mu is held.
func (t *Throttle) forget(now time.Time) {
	for k, e := range t.keys {
		if now.Sub(e.logged) >= t.every {
			delete(t.keys, k)
		}
	}
	if len(t.keys) >= t.max {
		clear(t.keys)
	}
}
