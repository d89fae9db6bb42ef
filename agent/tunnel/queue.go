package tunnel

import (
	"sort"
	"sync"
	"time"

	"github.com/ote-stack/ote/protocol"
)

// applyQueue holds the desired items between the session's reader, which
// records them and never waits, and the applies that a session's dispatcher
// starts. It keeps one slot per item key: the newest revision not yet
// started supersedes an older one, and a key has at most one apply running.
// It outlives sessions: what was recorded is applied by this process, so the
// revision the agent names in its next Hello covers it.
type applyQueue struct {
	wake chan<- struct{} // signalled, without waiting, whenever work may start

	mu      sync.Mutex // guards the fields below
	slots   map[protocol.ItemKey]*slot
	ready   []protocol.ItemKey // keys with a pending item and no apply running, oldest first
	running int                // applies running, sessions' and stragglers'
	idle    chan struct{}      // closed while nothing runs
	epoch   uint64             // grows when the hub's revisions start over (forget)
	// resyncWait is what the current resync waits for: key → revision that
	// must have finished; resyncArmed while one is awaited.
	resyncWait  map[protocol.ItemKey]uint64
	resyncArmed bool
	resyncs     uint64 // resyncs whose items have all finished
}

type slot struct {
	pending *protocol.Item // newest revision not started
	queued  bool           // the key is in ready
	running bool
	runRev  uint64         // revision of the running apply
	done    uint64         // highest revision whose apply finished (applied or failed)
	last    *protocol.Item // the item of done while it failed, for the retry
	failed  bool           // last failed: retried until a revision applies
}

func newApplyQueue(wake chan<- struct{}) *applyQueue {
	idle := make(chan struct{})
	close(idle)
	return &applyQueue{wake: wake, slots: map[protocol.ItemKey]*slot{}, idle: idle}
}

func (q *applyQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *applyQueue) slot(k protocol.ItemKey) *slot {
	s := q.slots[k]
	if s == nil {
		s = &slot{}
		q.slots[k] = s
	}
	return s
}

// enqueue puts a key with a pending item in line unless it is there or runs.
func (q *applyQueue) enqueue(k protocol.ItemKey, s *slot) {
	if s.pending != nil && !s.running && !s.queued {
		s.queued = true
		q.ready = append(q.ready, k)
	}
}

// record takes in one desired item. An item no newer than what the key has
// (pending, running or finished) is a repeat and is dropped.
func (q *applyQueue) record(it protocol.Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slot(it.ItemKey)
	newest := s.done
	if s.running {
		newest = max(newest, s.runRev)
	}
	if s.pending != nil {
		newest = max(newest, s.pending.Revision)
	}
	if it.Revision <= newest {
		return
	}
	s.pending = &it
	q.enqueue(it.ItemKey, s)
	q.signal()
}

// next starts the oldest ready item if fewer than limit applies run.
func (q *applyQueue) next(limit int) (protocol.Item, uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.running < limit && len(q.ready) > 0 {
		k := q.ready[0]
		q.ready = q.ready[1:]
		s := q.slots[k]
		s.queued = false
		if s.pending == nil || s.running {
			continue
		}
		it := *s.pending
		s.pending, s.running, s.runRev = nil, true, it.Revision
		if q.running == 0 {
			q.idle = make(chan struct{})
		}
		q.running++
		return it, q.epoch, true
	}
	return protocol.Item{}, 0, false
}

// finish ends the apply of it that next started in epoch. A cancelled
// apply (its session closed) is put back unless a newer revision waits.
func (q *applyQueue) finish(it protocol.Item, epoch uint64, failed, cancelled bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slot(it.ItemKey)
	s.running = false
	q.running--
	if q.running == 0 {
		close(q.idle)
	}
	switch {
	case epoch != q.epoch:
		// Revisions of a database the hub no longer has: forget it.
	case cancelled:
		if s.pending == nil {
			s.pending = &it
		}
	case it.Revision >= s.done:
		s.done, s.failed, s.last = it.Revision, failed, nil
		if failed {
			s.last = &it
		} else if it.Deleted && s.pending == nil {
			// Gone for good: the slot would only hold memory. The hub
			// sends nothing older again (the agent's revision covers it).
			delete(q.slots, it.ItemKey)
			q.checkResync()
			q.signal()
			return
		}
	}
	q.enqueue(it.ItemKey, s)
	q.checkResync()
	q.signal()
}

// busy reports whether key k has an apply waiting or running: its objects
// are between two revisions, not drifted.
func (q *applyQueue) busy(k protocol.ItemKey) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots[k]
	return s != nil && (s.pending != nil || s.running)
}

// reapply puts it, the applied revision of its key, back in line: the
// cluster drifted from it. Nothing happens when a newer revision waits or
// runs, or when it is not what the key applied last.
func (q *applyQueue) reapply(it protocol.Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots[it.ItemKey]
	if s == nil || s.done != it.Revision || s.failed || s.pending != nil || s.running {
		return
	}
	s.pending = &it
	q.enqueue(it.ItemKey, s)
	q.signal()
}

// retryFailed puts the failed items back in line.
func (q *applyQueue) retryFailed() {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := make([]protocol.ItemKey, 0)
	for k, s := range q.slots {
		if s.failed && s.last != nil && s.pending == nil && !s.running {
			keys = append(keys, k)
		}
	}
	// In revision order, as they came.
	sort.Slice(keys, func(i, j int) bool { return q.slots[keys[i]].done < q.slots[keys[j]].done })
	for _, k := range keys {
		s := q.slots[k]
		it := *s.last
		s.pending = &it
		q.enqueue(k, s)
	}
	if len(keys) > 0 {
		q.signal()
	}
}

// expectResync arms the resync count: it grows once every item of the
// resync (or a newer revision of its key) has finished.
func (q *applyQueue) expectResync(items []protocol.Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resyncWait = make(map[protocol.ItemKey]uint64, len(items))
	for _, it := range items {
		q.resyncWait[it.ItemKey] = max(q.resyncWait[it.ItemKey], it.Revision)
	}
	q.resyncArmed = true
	q.checkResync()
}

// checkResync counts the armed resync if it is complete. q.mu is held.
func (q *applyQueue) checkResync() {
	if !q.resyncArmed {
		return
	}
	for k, rev := range q.resyncWait {
		// A key without a slot was deleted once applied.
		if s := q.slots[k]; s == nil || s.done >= rev {
			delete(q.resyncWait, k)
		}
	}
	if len(q.resyncWait) == 0 {
		q.resyncArmed = false
		q.resyncs++
	}
}

// forget drops every revision known: the hub's revisions started over (its
// database was replaced), so older numbers mean nothing. Applies running
// finish without touching what is recorded from now on.
func (q *applyQueue) forget() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.epoch++
	for k, s := range q.slots {
		if !s.running {
			delete(q.slots, k)
			continue
		}
		s.pending, s.queued, s.runRev, s.done, s.last, s.failed = nil, false, 0, 0, nil, false
	}
	q.ready = nil
}

// current reports whether epoch is the queue's: no forget since.
func (q *applyQueue) current(epoch uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return epoch == q.epoch
}

// idleChan is closed once no apply runs.
func (q *applyQueue) idleChan() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idle
}

// load is how many applies run and how many items wait.
func (q *applyQueue) load() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.slots {
		if s.pending != nil {
			waiting++
		}
	}
	return q.running, waiting
}

func (q *applyQueue) resyncCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.resyncs
}

// outbox holds item statuses until a session sends them: one per key, the
// newest. A status never goes back: one for an older revision than the key
// has reported is dropped. It outlives sessions, so what a session could
// not send the next one does.
type outbox struct {
	wake chan<- struct{}

	mu      sync.Mutex                  // guards the fields below
	fence   map[protocol.ItemKey]uint64 // highest revision reported per key
	pending map[protocol.ItemKey]boxed  // to send
	sent    map[protocol.ItemKey]boxed  // the last sent per key, with when
	seq     uint64
}

type boxed struct {
	st  protocol.ItemStatus
	seq uint64    // order of put: a later put of one revision wins
	at  time.Time // when it was handed to a session (sent only)
}

func newOutbox(wake chan<- struct{}) *outbox {
	return &outbox{wake: wake, fence: map[protocol.ItemKey]uint64{}, pending: map[protocol.ItemKey]boxed{}, sent: map[protocol.ItemKey]boxed{}}
}

// put queues st unless the key has reported a newer revision.
func (o *outbox) put(st protocol.ItemStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.fence[st.ItemKey]; ok && st.Revision < f {
		return
	}
	o.fence[st.ItemKey] = st.Revision
	o.seq++
	o.pending[st.ItemKey] = boxed{st: st, seq: o.seq}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take removes up to n statuses to send, oldest first.
func (o *outbox) take(n int) []boxed {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) == 0 {
		return nil
	}
	out := make([]boxed, 0, min(n, len(o.pending)))
	for _, b := range o.pending {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	if len(out) > n {
		out = out[:n]
	}
	for _, b := range out {
		delete(o.pending, b.st.ItemKey)
	}
	return out
}

// restore puts back what could not be sent, unless something newer came.
func (o *outbox) restore(bs []boxed) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range bs {
		if _, newer := o.pending[b.st.ItemKey]; !newer && b.st.Revision >= o.fence[b.st.ItemKey] {
			o.pending[b.st.ItemKey] = b
		}
	}
}

// markSent remembers what a session was handed at now.
func (o *outbox) markSent(bs []boxed, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range bs {
		b.at = now
		o.sent[b.st.ItemKey] = b
	}
}

// resendSince queues again the statuses sent since t: a connection that
// was cut may not have delivered them.
func (o *outbox) resendSince(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, b := range o.sent {
		if b.at.Before(t) || b.st.Revision < o.fence[k] {
			continue
		}
		if _, queued := o.pending[k]; !queued {
			o.pending[k] = b
		}
	}
}

// forget drops the fence: the hub's revisions started over.
func (o *outbox) forget() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fence = map[protocol.ItemKey]uint64{}
	o.pending = map[protocol.ItemKey]boxed{}
	o.sent = map[protocol.ItemKey]boxed{}
}
