package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/pkg/wsconn"
	"github.com/ote-stack/ote/protocol"
)

// session runs one connection: hello and welcome, then the inventory and
// heartbeat sender and the apply dispatcher beside the reader. Its
// goroutines (reader and writer of the peer, sender, dispatcher) stop when
// it closes; it returns once they have. The applies the dispatcher started
// run on (dispatch), owned by the Client: Run waits for them when the agent
// stops.
func (c *Client) session(ctx context.Context, cred string) (bool, error) {
	hdr := http.Header{}
	hdr.Set(protocol.HeaderCluster, c.cfg.ClusterName)
	hdr.Set("Authorization", "Bearer "+cred)
	conn, resp, err := c.dialer.DialContext(ctx, c.tunnelURL(), hdr)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return false, fmt.Errorf("hub refused the tunnel: HTTP %d: %s", resp.StatusCode, b)
		}
		return false, fmt.Errorf("dial hub: %w", err)
	}
	// Hello and welcome before the peer starts: the welcome says how often
	// to beat, which sets the peer's deadlines.
	hello, _ := protocol.Encode(&protocol.Message{Kind: protocol.KindHello, Cluster: c.cfg.ClusterName, Hello: &protocol.Hello{
		ProtocolVersion: protocol.Version, AgentVersion: c.cfg.AgentVersion, AppliedRevision: c.applied.Load(),
	}})
	conn.SetWriteDeadline(time.Now().Add(15 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		conn.Close()
		return false, fmt.Errorf("send hello: %w", err)
	}
	conn.SetReadLimit(protocol.MaxMessageSize)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		conn.Close()
		return false, fmt.Errorf("wait for welcome: %w", err)
	}
	m, err := protocol.Decode(b)
	if err != nil || (m.Kind != protocol.KindWelcome && m.Kind != protocol.KindError) {
		conn.Close()
		return false, fmt.Errorf("expected welcome: %v", err)
	}
	if m.Kind == protocol.KindError {
		conn.Close()
		return false, fmt.Errorf("hub refused: %s", m.Error)
	}
	// An agent newer than its hub speaks the hub's version.
	speak := protocol.Speak(m.Welcome.ProtocolVersion)
	c.speaks.Store(int32(speak))
	if speak < protocol.Version {
		c.log.Info("the hub speaks an older protocol; speaking its version", "hub_protocol", m.Welcome.ProtocolVersion, "agent_protocol", protocol.Version)
	}
	hb := time.Duration(m.Welcome.HeartbeatMillis) * time.Millisecond
	if hb <= 0 {
		hb = 10 * time.Second
	}
	c.log.Info("connected to the hub", "heartbeat", hb, "hub_revision", m.Welcome.Revision, "applied_revision", c.applied.Load())
	c.connected.Store(true)
	c.metrics.connected.Set(1)
	defer func() { c.connected.Store(false); c.metrics.connected.Set(0) }()

	peer := wsconn.New(conn, wsconn.Options{
		ReadTimeout: 3 * hb, PingEvery: hb, WriteTimeout: 15 * time.Second,
		MaxMessage: protocol.MaxMessageSize, QueueLen: 64,
	})
	// What the previous session sent in its last read deadline and a ping
	// period may not have reached the hub: say it again.
	if !c.lastCut.IsZero() {
		c.box.resendSince(c.lastCut)
	}
	defer func() { c.lastCut = time.Now().Add(-4 * hb) }()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.sendLoop(sctx, peer, hb) }()
	go func() { defer wg.Done(); c.dispatch(sctx, peer, hb) }()

	// The reader only records: it never waits for an apply, so pongs and
	// the hub's messages are read while charts install.
	err = peer.Run(sctx, func(b []byte) error {
		m, err := protocol.Decode(b)
		if errors.Is(err, protocol.ErrUnknownKind) {
			// A newer hub's addition: ignored, not refused.
			c.log.Warn("ignored a message this agent does not know", "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("bad message from the hub: %w", err)
		}
		if len(m.Skipped) > 0 {
			c.log.Warn("ignored parts of a message this agent does not know", "kind", m.Kind, "skipped", m.Skipped)
		}
		switch m.Kind {
		case protocol.KindDesired:
			c.record(m.Desired)
			return nil
		case protocol.KindError:
			return &hubClosed{err: m.Error}
		default:
			return nil // nothing else is for the agent; ignore rather than fail
		}
	})
	cancel()
	wg.Wait()
	return true, err
}

// record takes in a Desired message without waiting.
func (c *Client) record(d *protocol.Desired) {
	if d.Resync && d.UpTo < c.applied.Load() {
		// The hub has none of the revisions we have seen (its database
		// was replaced) and starts over from its full state.
		c.log.Warn("the hub's revisions went back; taking its state afresh", "hub_revision", d.UpTo, "applied_revision", c.applied.Load())
		c.queue.forget()
		c.box.forget()
		c.applied.Store(0)
	}
	for _, it := range d.Items {
		c.queue.record(it)
	}
	if d.UpTo > c.applied.Load() {
		c.applied.Store(d.UpTo)
		c.metrics.revision.Set(float64(d.UpTo))
	}
	if d.Resync {
		c.queue.expectResync(d.Items)
	}
}

// send encodes and queues m.
func (c *Client) send(ctx context.Context, peer *wsconn.Peer, m *protocol.Message) error {
	m.Cluster = c.cfg.ClusterName
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	return peer.Send(ctx, b)
}

// sendLoop reports the inventory (snapshot first, then coalesced deltas) and
// beats.
func (c *Client) sendLoop(ctx context.Context, peer *wsconn.Peer, hb time.Duration) {
	snap := c.cfg.Inventory.Snapshot()
	c.metrics.nodes.Set(float64(len(snap)))
	if err := c.send(ctx, peer, &protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: snap}}); err != nil {
		return
	}
	beat := time.NewTicker(hb)
	defer beat.Stop()
	var coalesce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if c.send(ctx, peer, &protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{UnixMillis: time.Now().UnixMilli()}}) != nil {
				return
			}
		case <-c.cfg.Inventory.Changed():
			if coalesce == nil {
				coalesce = time.After(c.cfg.CoalesceInventory)
			}
		case <-coalesce:
			coalesce = nil
			nodes, removed := c.cfg.Inventory.Delta()
			if len(nodes) == 0 && len(removed) == 0 {
				continue
			}
			if c.send(ctx, peer, &protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Nodes: nodes, Removed: removed}}) != nil {
				return
			}
		}
	}
}

// drainApplies bounds how long a stopping agent waits for the applies its
// context cancelled.
const drainApplies = 10 * time.Second

// dispatch starts applies as the queue has them (at most ApplyConcurrency
// at once, one per key), sends the statuses of the outbox, retries failed
// items and reports pod changes.
//
// An apply outlives the session that started it: it runs on the agent's
// own context (c.life, cancelled when the agent stops) within ApplyTimeout,
// and its status waits in the outbox for the next session. Cancelling it
// when a session ends would interrupt Helm in the middle of an upgrade:
// Helm records the revision failed while its writes go on, and the next
// session's resync upgrades again, a second revision of one chart (seen
// when a hub replica was killed during a fan-out). Its key stays busy until
// it returns, so the next session never applies the key beside it; then
// it finds the release deployed and adds nothing.
func (c *Client) dispatch(ctx context.Context, peer *wsconn.Peer, hb time.Duration) {
	actx := c.life
	applyingAfter := c.cfg.ReportApplyingAfter
	if applyingAfter <= 0 {
		applyingAfter = hb
	}
	retry := time.NewTicker(c.cfg.RetryFailedEvery)
	defer retry.Stop()
	var podsChanged <-chan struct{}
	if c.cfg.Pods != nil {
		podsChanged = c.cfg.Pods.Changed()
	}
	var podsDue <-chan time.Time
	for {
		for {
			it, epoch, ok := c.queue.next(c.cfg.ApplyConcurrency)
			if !ok {
				break
			}
			go c.applyOne(actx, it, epoch, applyingAfter)
		}
		running, waiting := c.queue.load()
		c.metrics.running.Set(float64(running))
		c.metrics.waiting.Set(float64(waiting))
		if running == 0 && waiting == 0 && c.queue.resyncCount() > 0 {
			c.syncedAt.Store(time.Now().Unix())
		}
		if !c.flush(ctx, peer) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-retry.C:
			c.queue.retryFailed()
		case <-podsChanged:
			if podsDue == nil {
				podsDue = time.After(c.cfg.CoalesceInventory)
			}
		case <-podsDue:
			podsDue = nil
			for _, st := range c.podStatuses(c.cfg.Pods.Drain()) {
				c.box.put(st)
			}
		}
	}
}

// flush sends what the outbox holds; false when the session is closing
// (what was not sent stays for the next one).
func (c *Client) flush(ctx context.Context, peer *wsconn.Peer) bool {
	for {
		batch := c.box.take(500)
		if len(batch) == 0 {
			return true
		}
		items := make([]protocol.ItemStatus, 0, len(batch))
		knows := protocol.KnowsApplying(int(c.speaks.Load()))
		for _, b := range batch {
			if b.st.State == protocol.StateApplying && !knows {
				continue // a hub of an older protocol; its outcome follows
			}
			items = append(items, b.st)
		}
		if len(items) == 0 {
			c.box.markSent(batch, time.Now())
			continue
		}
		if c.send(ctx, peer, &protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: items, AppliedRevision: c.applied.Load()}}) != nil {
			c.box.restore(batch)
			return false
		}
		c.box.markSent(batch, time.Now())
	}
}

// applyOne applies one item that the queue started and reports it: as
// applying once it has run for applyingAfter, then its outcome. Cancelled
// by its session's close, it goes back to the queue unreported.
func (c *Client) applyOne(ctx context.Context, it protocol.Item, epoch uint64, applyingAfter time.Duration) {
	var mu sync.Mutex // guards over
	over := false
	slow := time.AfterFunc(applyingAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over && c.queue.current(epoch) && protocol.KnowsApplying(int(c.speaks.Load())) {
			c.box.put(protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplying})
		}
	})
	tctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
	start := time.Now()
	err := c.cfg.Applier.Apply(tctx, it)
	cancel()
	if ctx.Err() == nil {
		c.metrics.applyTime.WithLabelValues(string(it.Kind)).Observe(time.Since(start).Seconds())
	}
	slow.Stop()
	mu.Lock()
	over = true
	mu.Unlock()
	if err != nil && ctx.Err() != nil {
		c.queue.finish(it, epoch, false, true)
		return
	}
	st := c.outcome(it, err)
	// The status goes in before the key is free, so a newer revision's
	// status always comes after it. A revision of a database the hub no
	// longer has is not reported.
	if c.queue.current(epoch) {
		c.box.put(st)
	}
	c.queue.finish(it, epoch, err != nil, false)
}

// outcome is the status of an apply that ended.
func (c *Client) outcome(it protocol.Item, err error) protocol.ItemStatus {
	st := protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplied}
	if err != nil {
		st.State, st.Message = protocol.StateFailed, err.Error()
	}
	if it.Kind == protocol.ItemWorkload {
		c.mu.Lock()
		if prev, ok := c.workloads[it.Name]; !ok || prev.Revision <= it.Revision {
			if err == nil && !it.Deleted {
				c.workloads[it.Name] = it
			} else {
				delete(c.workloads, it.Name)
			}
		}
		c.mu.Unlock()
	}
	if err == nil && !it.Deleted && it.Kind == protocol.ItemWorkload && c.cfg.Pods != nil {
		if ns, name, ok := strings.Cut(it.Name, "/"); ok {
			pods := c.cfg.Pods.Counts(ns, name, workloadVersion(it))
			st.Pods = &pods
		}
	}
	c.metrics.items.WithLabelValues(string(it.Kind), string(st.State)).Inc()
	if err != nil {
		c.log.Warn("apply failed", "item", it.ItemKey.String(), "revision", it.Revision, "err", err)
	}
	return st
}

// podStatuses reports the pods of the applied workloads among names.
func (c *Client) podStatuses(names []string) []protocol.ItemStatus {
	var out []protocol.ItemStatus
	for _, n := range names {
		c.mu.Lock()
		it, ok := c.workloads[n]
		c.mu.Unlock()
		ns, name, cut := strings.Cut(n, "/")
		if !ok || !cut {
			continue
		}
		pods := c.cfg.Pods.Counts(ns, name, workloadVersion(it))
		st := protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplied, Pods: &pods}
		st.Drift = c.drift(it, ns, name)
		out = append(out, st)
	}
	return out
}

// drift checks applied workload it (ns/name) for out-of-band changes and,
// unless its drift policy is "report", applies it again.
func (c *Client) drift(it protocol.Item, ns, name string) []protocol.Drift {
	if c.cfg.Drift == nil || c.queue.busy(it.ItemKey) {
		return nil
	}
	var spec protocol.WorkloadSpec
	if json.Unmarshal(it.Spec, &spec) != nil {
		return nil
	}
	ds := c.cfg.Drift.Drift(ns, name, &spec)
	if len(ds) == 0 {
		return nil
	}
	correct := spec.DriftPolicy != protocol.DriftReport
	for i := range ds {
		if ds[i].At == 0 {
			// The API server recorded no time (an update of the scale
			// subresource): when the agent found it.
			ds[i].At = time.Now().Unix()
		}
		ds[i].Corrected = correct
		action := "reported"
		if correct {
			action = "corrected"
		}
		c.metrics.drift.WithLabelValues(action).Inc()
		c.log.Info("workload drifted", "item", it.ItemKey.String(), "object", ds[i].Object, "field", ds[i].Field,
			"manager", ds[i].Manager, "action", action)
	}
	if correct {
		c.queue.reapply(it)
	}
	return ds
}

// hubClosed is the end of a session that the hub closed with an Error.
type hubClosed struct{ err *protocol.Error }

func (e *hubClosed) Error() string { return "hub closed the session: " + e.err.Error() }

// maxComeBack bounds the wait a shutting-down hub may ask for.
const maxComeBack = time.Minute

// comeBackAfter is when a hub that shut the session down asked the agent
// to dial again; false when it did not ask.
func comeBackAfter(err error) (time.Duration, bool) {
	var hc *hubClosed
	if !errors.As(err, &hc) || hc.err.Code != protocol.ErrCodeShutdown || hc.err.RetryAfterMillis <= 0 {
		return 0, false
	}
	return min(time.Duration(hc.err.RetryAfterMillis)*time.Millisecond, maxComeBack), true
}

// workloadVersion is the app version of workload item it ("" when its spec
// says none).
func workloadVersion(it protocol.Item) string {
	var v struct{ Version string }
	_ = json.Unmarshal(it.Spec, &v)
	return v.Version
}

// chartDriftLoop checks the applied chart workloads for drift every
// ChartDriftEvery until ctx ends, one at a time. What it finds goes to the
// outbox with the workload's status, for the current or the next session.
func (c *Client) chartDriftLoop(ctx context.Context) {
	every := c.cfg.ChartDriftEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// repaired is when each release was last repaired: one that drifts
	// again within chartRepairPause is reported, not repaired, so that a
	// fight with another controller does not grow its Helm history by a
	// revision a check.
	repaired := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		var charts []protocol.Item
		for _, it := range c.workloads {
			var spec protocol.WorkloadSpec
			if json.Unmarshal(it.Spec, &spec) == nil && spec.Chart != nil {
				charts = append(charts, it)
			}
		}
		c.mu.Unlock()
		for _, it := range charts {
			if ctx.Err() != nil {
				return
			}
			c.checkChart(ctx, it, repaired)
		}
	}
}

// chartRepairPause is the least time between two repairs of one release.
const chartRepairPause = 5 * time.Minute

// checkChart looks for drift in chart workload it and, unless its policy
// is "report", repairs the release.
func (c *Client) checkChart(ctx context.Context, it protocol.Item, repaired map[string]time.Time) {
	ns, name, ok := strings.Cut(it.Name, "/")
	if !ok {
		return
	}
	var spec protocol.WorkloadSpec
	if json.Unmarshal(it.Spec, &spec) != nil {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
	defer cancel()
	ds, err := c.cfg.Charts.Drift(tctx, ns, name)
	if err != nil {
		c.log.Warn("check chart for drift", "item", it.ItemKey.String(), "err", err)
		return
	}
	if len(ds) == 0 {
		return
	}
	correct := spec.DriftPolicy != protocol.DriftReport && time.Since(repaired[it.Name]) >= chartRepairPause
	if correct {
		if err := c.cfg.Charts.Repair(tctx, ns, name); err != nil {
			c.log.Warn("put chart back", "item", it.ItemKey.String(), "err", err)
			correct = false
		} else {
			repaired[it.Name] = time.Now()
		}
	}
	now := time.Now().Unix()
	action := "reported"
	if correct {
		action = "corrected"
	}
	for i := range ds {
		if ds[i].At == 0 {
			ds[i].At = now
		}
		ds[i].Corrected = correct
		c.metrics.drift.WithLabelValues(action).Inc()
		c.log.Info("workload drifted", "item", it.ItemKey.String(), "object", ds[i].Object, "field", ds[i].Field,
			"manager", ds[i].Manager, "action", action)
	}
	st := protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplied, Drift: ds}
	if c.cfg.Pods != nil {
		pods := c.cfg.Pods.Counts(ns, name, spec.Version)
		st.Pods = &pods
	}
	c.box.put(st)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
