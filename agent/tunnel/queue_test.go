package tunnel

import (
	"testing"
	"time"

	"github.com/ote-stack/ote/protocol"
)

func TestQueueOneApplyPerKeyLatestWins(t *testing.T) {
	q := newApplyQueue(make(chan struct{}, 1))
	q.record(nsItem("a", 1))
	q.record(nsItem("b", 2))
	a1, ep, ok := q.next(4)
	if !ok || a1.Name != "a" || a1.Revision != 1 {
		t.Fatalf("first: %+v %v", a1, ok)
	}
	q.record(nsItem("a", 3))
	q.record(nsItem("a", 4)) // supersedes 3, which has not started
	q.record(nsItem("a", 2)) // older than what the key has: a repeat
	b2, _, ok := q.next(4)
	if !ok || b2.Name != "b" {
		t.Fatalf("second: %+v %v", b2, ok)
	}
	if it, _, ok := q.next(4); ok {
		t.Fatalf("%+v started while a@1 runs", it)
	}
	q.finish(a1, ep, false, false)
	a4, _, ok := q.next(4)
	if !ok || a4.Name != "a" || a4.Revision != 4 {
		t.Fatalf("after a@1: %+v %v", a4, ok)
	}
	// A cancelled apply goes back in line; a failed one comes back on retry.
	q.finish(a4, ep, false, true)
	if again, _, ok := q.next(4); !ok || again.Revision != 4 {
		t.Fatalf("cancelled a@4 not back: %+v %v", again, ok)
	}
	q.finish(a4, ep, true, false)
	q.finish(b2, ep, false, false)
	if it, _, ok := q.next(4); ok {
		t.Fatalf("%+v started before the retry", it)
	}
	q.retryFailed()
	if it, _, ok := q.next(4); !ok || it.Name != "a" || it.Revision != 4 {
		t.Fatalf("retry: %+v %v", it, ok)
	}
}

func TestQueueBoundAndIdle(t *testing.T) {
	q := newApplyQueue(make(chan struct{}, 1))
	for i, n := range []string{"a", "b", "c"} {
		q.record(nsItem(n, uint64(i+1)))
	}
	x, ep, _ := q.next(2)
	y, _, _ := q.next(2)
	if _, _, ok := q.next(2); ok {
		t.Fatal("a third apply started beyond the bound of 2")
	}
	idle := q.idleChan()
	q.finish(x, ep, false, false)
	select {
	case <-idle:
		t.Fatal("idle while an apply runs")
	default:
	}
	q.finish(y, ep, false, false)
	<-idle
}

func TestQueueResyncCountsWhenItsItemsFinish(t *testing.T) {
	q := newApplyQueue(make(chan struct{}, 1))
	q.expectResync(nil)
	if q.resyncCount() != 1 {
		t.Fatal("an empty resync is done at once")
	}
	items := []protocol.Item{nsItem("a", 1), nsItem("b", 2)}
	for _, it := range items {
		q.record(it)
	}
	q.expectResync(items)
	a, ep, _ := q.next(4)
	q.record(nsItem("b", 3)) // supersedes b@2 before it starts
	q.finish(a, ep, false, false)
	if q.resyncCount() != 1 {
		t.Fatal("counted before b finished")
	}
	b, _, _ := q.next(4)
	q.finish(b, ep, true, false) // failed is finished too
	if q.resyncCount() != 2 {
		t.Fatalf("resyncs %d after every item finished", q.resyncCount())
	}
}

func TestOutboxNeverGoesBack(t *testing.T) {
	o := newOutbox(make(chan struct{}, 1))
	k := protocol.ItemKey{Kind: protocol.ItemWorkload, Name: "ns1/web"}
	o.put(protocol.ItemStatus{ItemKey: k, Revision: 5, State: protocol.StateApplying})
	o.put(protocol.ItemStatus{ItemKey: k, Revision: 4, State: protocol.StateApplied}) // older: dropped
	sent := o.take(10)
	if len(sent) != 1 || sent[0].st.Revision != 5 {
		t.Fatalf("took %+v", sent)
	}
	// A send that failed is put back, unless a later status came meanwhile.
	o.put(protocol.ItemStatus{ItemKey: k, Revision: 5, State: protocol.StateApplied})
	o.restore(sent)
	got := o.take(10)
	if len(got) != 1 || got[0].st.State != protocol.StateApplied {
		t.Fatalf("after restore %+v", got)
	}
	now := time.Now()
	o.markSent(got, now)
	o.resendSince(now.Add(time.Second))
	if len(o.take(10)) != 0 {
		t.Fatal("resent what was sent before the window")
	}
	o.resendSince(now.Add(-time.Second))
	if again := o.take(10); len(again) != 1 || again[0].st.State != protocol.StateApplied {
		t.Fatalf("resend %+v", again)
	}
	o.forget()
	o.put(protocol.ItemStatus{ItemKey: k, Revision: 1, State: protocol.StateApplied})
	if len(o.take(10)) != 1 {
		t.Fatal("after the hub's revisions started over, a low revision is dropped")
	}
}

func TestQueueForgetsDeletedItemsOnceApplied(t *testing.T) {
	q := newApplyQueue(make(chan struct{}, 1))
	gone := nsItem("a", 2)
	gone.Deleted = true
	q.record(gone)
	q.expectResync([]protocol.Item{gone})
	it, ep, _ := q.next(4)
	q.finish(it, ep, false, false)
	q.mu.Lock()
	n := len(q.slots)
	q.mu.Unlock()
	if n != 0 || q.resyncCount() != 1 {
		t.Fatalf("%d slots left, %d resyncs", n, q.resyncCount())
	}
	running, waiting := q.load()
	if running != 0 || waiting != 0 {
		t.Fatalf("load %d %d", running, waiting)
	}
}
