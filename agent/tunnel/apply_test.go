package tunnel

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/pkg/backoff"
	"github.com/ote-stack/ote/protocol"
)

// gateApplier is a fake Applier at the seam the session applies through:
// an item with a gate ("name@revision") blocks until the gate is closed or
// its context ends; it records what started and whether two applies of one
// name ever ran at once.
type gateApplier struct {
	mu        sync.Mutex // guards the fields below
	gates     map[string]chan struct{}
	started   map[string][]uint64 // revisions whose apply started, by name
	active    map[string]int      // applies running, by name
	running   int                 // applies running in all
	maxActive int                 // most applies ever running at once
	overlap   string              // a name that was applied twice at once
}

func newGateApplier(gates map[string]chan struct{}) *gateApplier {
	return &gateApplier{gates: gates, started: map[string][]uint64{}, active: map[string]int{}}
}

func (a *gateApplier) Apply(ctx context.Context, it protocol.Item) error {
	a.mu.Lock()
	a.started[it.Name] = append(a.started[it.Name], it.Revision)
	a.active[it.Name]++
	if a.active[it.Name] > 1 {
		a.overlap = it.Name
	}
	a.running++
	a.maxActive = max(a.maxActive, a.running)
	gate := a.gates[fmt.Sprintf("%s@%d", it.Name, it.Revision)]
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.active[it.Name]--
		a.running--
		a.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (a *gateApplier) startedRevisions(name string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.started[name])
}

func newClientWith(t *testing.T, h *fakeHub, ap Applier, tune func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		HubURL: h.srv.URL, ClusterName: "edge-1", Credentials: &memCreds{cred: "otec_cred"},
		Inventory: fakeInventory{}, Applier: ap, Backoff: backoff.New(20*time.Millisecond, 200*time.Millisecond),
		RetryFailedEvery: 100 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushDesired sends one Desired message on the hub's side of conn.
func pushDesired(t *testing.T, conn *websocket.Conn, items ...protocol.Item) {
	t.Helper()
	b, err := protocol.Encode(&protocol.Message{Kind: protocol.KindDesired, Desired: &protocol.Desired{Items: items, UpTo: items[len(items)-1].Revision}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("push desired: %v", err)
	}
}

// latestStatus is the last status the hub got for name, and whether the
// revisions reported for it never went down.
func (h *fakeHub) latestStatus(name string) (protocol.ItemStatus, bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last protocol.ItemStatus
	found, monotonic := false, true
	for _, st := range h.statuses {
		if st.Name != name {
			continue
		}
		if found && st.Revision < last.Revision {
			monotonic = false
		}
		last, found = st, true
	}
	return last, found, monotonic
}

func (h *fakeHub) counters() (pongs, beats, dials int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pongs, h.beats, h.dials
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestApplyingNeverStallsTheTunnel: an apply that blocks for many read
// deadlines (the agent's is three 200 ms heartbeats) does not stop the
// reader: the hub's pings are answered, heartbeats flow, more desired
// items than any queue held are taken in and applied meanwhile, the slow
// item is reported as applying, and the session never drops.
func TestApplyingNeverStallsTheTunnel(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("slow", 1)}
	release := make(chan struct{})
	ap := newGateApplier(map[string]chan struct{}{"slow@1": release})
	c := newClientWith(t, h, ap, nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "the slow apply started", func() bool { return len(ap.startedRevisions("slow")) == 1 })

	const others = 150
	for i := range others {
		pushDesired(t, conn, nsItem(fmt.Sprintf("ns%d", i), uint64(2+i)))
	}
	// Five read deadlines of the agent's: every ping is answered and
	// heartbeats keep coming, each within one deadline (600 ms) or little more.
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		pongs, beats, _ := h.counters()
		if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
			t.Fatalf("ping: %v", err)
		}
		waitFor(t, time.Second, "a pong while an apply blocks", func() bool { p, _, _ := h.counters(); return p > pongs })
		waitFor(t, time.Second, "a heartbeat while an apply blocks", func() bool { _, b, _ := h.counters(); return b > beats })
	}
	for i := range others {
		name := fmt.Sprintf("ns%d", i)
		waitFor(t, 5*time.Second, name+" applied beside the slow apply", func() bool {
			st, ok, _ := h.latestStatus(name)
			return ok && st.State == protocol.StateApplied && st.Revision == uint64(2+i)
		})
	}
	waitFor(t, 5*time.Second, "the slow item reported as applying", func() bool {
		st, ok, _ := h.latestStatus("slow")
		return ok && st.State == protocol.StateApplying && st.Revision == 1
	})
	if _, _, dials := h.counters(); dials != 1 || !c.Connected() {
		t.Fatalf("the session dropped while an apply blocked: %d dials", dials)
	}
	close(release)
	waitFor(t, 5*time.Second, "the slow item applied", func() bool {
		st, ok, _ := h.latestStatus("slow")
		return ok && st.State == protocol.StateApplied && st.Revision == 1
	})
}

// TestSupersededRevisionIsSkipped: revisions of an item that arrive while
// an older one applies replace each other; only the newest is applied next,
// and the last status the hub has is the newest's.
func TestSupersededRevisionIsSkipped(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("a", 1)}
	release := make(chan struct{})
	ap := newGateApplier(map[string]chan struct{}{"a@1": release})
	c := newClientWith(t, h, ap, nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "a@1 started", func() bool { return len(ap.startedRevisions("a")) == 1 })
	pushDesired(t, conn, nsItem("a", 2))
	pushDesired(t, conn, nsItem("a", 3))
	eventually(t, "revisions 2 and 3 taken in while 1 applies", func() bool { return c.AppliedRevision() == 3 })
	close(release)
	eventually(t, "a@3 applied", func() bool {
		st, ok, _ := h.latestStatus("a")
		return ok && st.State == protocol.StateApplied && st.Revision == 3
	})
	if got := ap.startedRevisions("a"); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("applied revisions %v, want [1 3]: revision 2 was superseded before it started", got)
	}
	if _, _, monotonic := h.latestStatus("a"); !monotonic {
		t.Fatal("a status went back to an older revision")
	}
}

// TestAppliesOfOneKeyNeverOverlap: items of different keys apply at once,
// up to ApplyConcurrency; revisions of one key one after the other, never
// two at once, and each key ends at its newest revision.
func TestAppliesOfOneKeyNeverOverlap(t *testing.T) {
	const bound, keys = 3, 6
	h := newFakeHub(t)
	gates := map[string]chan struct{}{}
	release := make(chan struct{})
	for k := range keys {
		h.desired = append(h.desired, nsItem(fmt.Sprintf("k%d", k), uint64(1+k)))
		gates[fmt.Sprintf("k%d@%d", k, 1+k)] = release
	}
	ap := newGateApplier(gates)
	c := newClientWith(t, h, ap, func(cfg *Config) { cfg.ApplyConcurrency = bound })
	run(t, c)
	conn := <-h.conns
	eventually(t, "as many applies as the bound at once", func() bool {
		ap.mu.Lock()
		defer ap.mu.Unlock()
		return ap.running == bound
	})
	// While they block, every key gets many newer revisions.
	rev := uint64(keys)
	newest := map[string]uint64{}
	for range 20 {
		var items []protocol.Item
		for k := range keys {
			rev++
			name := fmt.Sprintf("k%d", k)
			items = append(items, nsItem(name, rev))
			newest[name] = rev
		}
		pushDesired(t, conn, items...)
	}
	eventually(t, "every revision taken in", func() bool { return c.AppliedRevision() == rev })
	close(release)
	for name, want := range newest {
		eventually(t, name+" at its newest revision", func() bool {
			st, ok, _ := h.latestStatus(name)
			return ok && st.State == protocol.StateApplied && st.Revision == want
		})
		if _, _, monotonic := h.latestStatus(name); !monotonic {
			t.Errorf("%s: a status went back to an older revision", name)
		}
		if got := ap.startedRevisions(name); !slices.IsSorted(got) {
			t.Errorf("%s applied out of revision order: %v", name, got)
		}
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.overlap != "" {
		t.Fatalf("%s was applied twice at once", ap.overlap)
	}
	if ap.maxActive != bound {
		t.Fatalf("at most %d applies ran at once, want the bound %d", ap.maxActive, bound)
	}
}

// TestStatusesLostInACutAreSentAgain: the hub never got the statuses of a
// session that was cut right after sending them; the next session sends
// them again, though the hub has nothing newer to send.
func TestStatusesLostInACutAreSentAgain(t *testing.T) {
	h := newFakeHub(t)
	h.deaf = 1
	h.desired = []protocol.Item{nsItem("ns1", 1)}
	c := newClientWith(t, h, newGateApplier(nil), nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "the status sent into the cut", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.dropped == 1 })
	conn.Close()
	eventually(t, "ns1's status after the reconnect", func() bool {
		st, ok, _ := h.latestStatus("ns1")
		return ok && st.State == protocol.StateApplied && st.Revision == 1
	})
	if _, _, hellos, _, _ := h.snapshot(); len(hellos) != 2 || hellos[1].AppliedRevision != 1 {
		t.Fatalf("hellos %+v", hellos)
	}
}

// TestAppliesOutliveTheirSession: an apply running when its session
// closes is not cancelled (a Helm upgrade cut short leaves a failed
// revision and the next session upgrades again: two revisions of one
// chart); the next session does not apply the key beside it, nor again
// after it, and reports its outcome.
func TestAppliesOutliveTheirSession(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("slow", 1)}
	release := make(chan struct{})
	ap := newGateApplier(map[string]chan struct{}{"slow@1": release})
	c := newClientWith(t, h, ap, nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "the slow apply started", func() bool { return len(ap.startedRevisions("slow")) == 1 })
	conn.Close()
	<-h.conns // the next session, whose resync sends slow@1 again
	close(release)
	eventually(t, "slow applied, reported in the next session", func() bool {
		st, ok, _ := h.latestStatus("slow")
		return ok && st.State == protocol.StateApplied && st.Revision == 1
	})
	if got := ap.startedRevisions("slow"); len(got) != 1 {
		t.Fatalf("slow@1 was applied %d times (%v): the session's close interrupted it, or the resync applied it again", len(got), got)
	}
	for _, st := range h.snapshotStatuses() {
		if st.Name == "slow" && st.State == protocol.StateFailed {
			t.Fatalf("the apply that outlived its session was reported failed: %+v", st)
		}
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.overlap != "" {
		t.Fatal("the new session applied slow beside the running apply")
	}
}

func (h *fakeHub) snapshotStatuses() []protocol.ItemStatus {
	_, _, _, st, _ := h.snapshot()
	return st
}

// TestHubWhoseRevisionsStartedOver: a hub on a new database resyncs from
// revision numbers lower than the agent's; the agent applies them and
// reports them, rather than taking them for repeats.
func TestHubWhoseRevisionsStartedOver(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("old", 5)}
	ap := newGateApplier(nil)
	c := newClientWith(t, h, ap, nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "old@5 applied", func() bool { st, ok, _ := h.latestStatus("old"); return ok && st.Revision == 5 })
	h.mu.Lock()
	h.desired, h.replaced = []protocol.Item{nsItem("old", 1), nsItem("new", 2)}, true
	h.mu.Unlock()
	conn.Close()
	eventually(t, "the new database's items applied", func() bool {
		o, ok1, _ := h.latestStatus("old")
		n, ok2, _ := h.latestStatus("new")
		return ok1 && ok2 && o.Revision == 1 && n.Revision == 2 && n.State == protocol.StateApplied
	})
	eventually(t, "the agent's revision is the new hub's", func() bool { return c.AppliedRevision() == 2 && c.Resyncs() == 2 })
	if got := ap.startedRevisions("old"); !slices.Equal(got, []uint64{5, 1}) {
		t.Fatalf("old applied at %v", got)
	}
}

// TestAgentSpeaksAnOlderHubsVersion: with a hub of protocol version 1, which
// does not know StateApplying, a long apply is not reported as applying;
// its outcome is. And a message kind the agent does not know is ignored,
// not a reason to drop the session.
func TestAgentSpeaksAnOlderHubsVersion(t *testing.T) {
	h := newFakeHub(t)
	h.version = 1
	h.desired = []protocol.Item{nsItem("slow", 1)}
	release := make(chan struct{})
	ap := newGateApplier(map[string]chan struct{}{"slow@1": release})
	c := newClientWith(t, h, ap, nil)
	run(t, c)
	conn := <-h.conns
	eventually(t, "the slow apply started", func() bool { return len(ap.startedRevisions("slow")) == 1 })
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"kind":"teleport","teleport":{}}`)); err != nil {
		t.Fatal(err)
	}
	// Several heartbeat periods pass (a version-2 hub would have been told
	// "applying" after one): counted by the heartbeats the hub receives.
	_, beats, _ := h.counters()
	waitFor(t, 5*time.Second, "three heartbeats while the apply blocks", func() bool { _, b, _ := h.counters(); return b >= beats+3 })
	close(release)
	waitFor(t, 5*time.Second, "the slow item applied", func() bool {
		st, ok, _ := h.latestStatus("slow")
		return ok && st.State == protocol.StateApplied && st.Revision == 1
	})
	_, _, _, statuses, _ := h.snapshot()
	for _, st := range statuses {
		if st.State == protocol.StateApplying {
			t.Fatalf("a version-1 hub was sent %+v", st)
		}
	}
	if _, _, dials := h.counters(); dials != 1 || !c.Connected() {
		t.Fatalf("the session dropped: %d dials", dials)
	}
}

// TestComesBackWhenTheHubSays: a hub that shuts down tells the agent when
// to dial again; the agent does, rather than on its backoff's schedule
// (here a minute), and not before.
func TestComesBackWhenTheHubSays(t *testing.T) {
	h := newFakeHub(t)
	c := newClientWith(t, h, newGateApplier(nil), func(cfg *Config) { cfg.Backoff = backoff.New(time.Minute, time.Minute) })
	run(t, c)
	conn := <-h.conns
	eventually(t, "connected", c.Connected)
	const after = 400 * time.Millisecond
	sent := time.Now()
	shutDown(t, conn, after)
	select {
	case <-h.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not come back when the hub said (its backoff is a minute)")
	}
	if el := time.Since(sent); el < after {
		t.Fatalf("the agent came back after %v, before the %v the hub asked for", el, after)
	}
}

// TestKeepsTheHubsPaceWhileItRestarts: after a come-back hint, dials that
// find the hub not yet back are no further apart than the hint, not on the
// backoff's growing schedule (here a minute).
func TestKeepsTheHubsPaceWhileItRestarts(t *testing.T) {
	h := newFakeHub(t)
	c := newClientWith(t, h, newGateApplier(nil), func(cfg *Config) { cfg.Backoff = backoff.New(time.Minute, time.Minute) })
	run(t, c)
	conn := <-h.conns
	eventually(t, "connected", c.Connected)
	h.mu.Lock()
	h.refuse = true // the restarting hub answers no tunnel yet
	h.mu.Unlock()
	shutDown(t, conn, 200*time.Millisecond)
	_, _, dials := h.counters()
	waitFor(t, 10*time.Second, "three refused dials at the hub's pace", func() bool { _, _, d := h.counters(); return d >= dials+3 })
	h.mu.Lock()
	h.refuse = false
	h.mu.Unlock()
	select {
	case <-h.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not come back once the hub was")
	}
}

// shutDown ends the hub's side of conn as a hub shutting down does, asking
// the agent to come back after comeBack.
func shutDown(t *testing.T, conn *websocket.Conn, comeBack time.Duration) {
	t.Helper()
	b, _ := protocol.Encode(&protocol.Message{Kind: protocol.KindError, Error: &protocol.Error{
		Code: protocol.ErrCodeShutdown, Message: "hub is shutting down", RetryAfterMillis: comeBack.Milliseconds()}})
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
