package tunnel

import (
	"context"
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
// heartbeat sender and the desired-state worker beside the reader.
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
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	desired := make(chan *protocol.Desired, 64)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.sendLoop(sctx, peer, hb) }()
	go func() { defer wg.Done(); c.applyLoop(sctx, peer, desired) }()

	err = peer.Run(sctx, func(b []byte) error {
		m, err := protocol.Decode(b)
		if err != nil {
			return fmt.Errorf("bad message from the hub: %w", err)
		}
		switch m.Kind {
		case protocol.KindDesired:
			select {
			case desired <- m.Desired:
				return nil
			case <-sctx.Done():
				return sctx.Err()
			}
		case protocol.KindError:
			return fmt.Errorf("hub closed the session: %s", m.Error)
		default:
			return nil // nothing else is for the agent; ignore rather than fail
		}
	})
	cancel()
	wg.Wait()
	return true, err
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

// applyLoop applies desired items in order, reports their status, and
// retries the failed ones.
func (c *Client) applyLoop(ctx context.Context, peer *wsconn.Peer, desired <-chan *protocol.Desired) {
	retry := time.NewTicker(c.cfg.RetryFailedEvery)
	defer retry.Stop()
	var podsChanged <-chan struct{}
	if c.cfg.Pods != nil {
		podsChanged = c.cfg.Pods.Changed()
	}
	var podsDue <-chan time.Time
	for {
		var items []protocol.Item
		var upTo uint64
		resync := false
		select {
		case <-ctx.Done():
			return
		case <-podsChanged:
			if podsDue == nil {
				podsDue = time.After(c.cfg.CoalesceInventory)
			}
			continue
		case <-podsDue:
			podsDue = nil
			if st := c.podStatuses(c.cfg.Pods.Drain()); len(st) > 0 {
				if c.send(ctx, peer, &protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: st, AppliedRevision: c.applied.Load()}}) != nil {
					return
				}
			}
			continue
		case d := <-desired:
			items, upTo, resync = d.Items, d.UpTo, d.Resync
		case <-retry.C:
			c.mu.Lock()
			for _, it := range c.failed {
				items = append(items, it)
			}
			c.mu.Unlock()
			if len(items) == 0 {
				continue
			}
		}
		statuses := make([]protocol.ItemStatus, 0, len(items))
		for _, it := range items {
			statuses = append(statuses, c.applyItem(ctx, it))
			if ctx.Err() != nil {
				return
			}
		}
		if upTo > c.applied.Load() {
			c.applied.Store(upTo)
			c.metrics.revision.Set(float64(upTo))
		}
		if resync {
			c.resyncs.Add(1)
		}
		if len(statuses) == 0 {
			continue
		}
		if c.send(ctx, peer, &protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: statuses, AppliedRevision: c.applied.Load()}}) != nil {
			return
		}
	}
}

func (c *Client) applyItem(ctx context.Context, it protocol.Item) protocol.ItemStatus {
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	err := c.cfg.Applier.Apply(actx, it)
	cancel()
	st := protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplied}
	c.mu.Lock()
	if prev, ok := c.failed[it.ItemKey]; ok && prev.Revision > it.Revision {
		// A newer revision failed meanwhile and will be retried; this
		// one is stale.
		c.mu.Unlock()
		return st
	}
	if err != nil {
		st.State, st.Message = protocol.StateFailed, err.Error()
		c.failed[it.ItemKey] = it
	} else {
		delete(c.failed, it.ItemKey)
	}
	if it.Kind == protocol.ItemWorkload {
		if err == nil && !it.Deleted {
			c.workloads[it.Name] = it
		} else {
			delete(c.workloads, it.Name)
		}
	}
	c.mu.Unlock()
	if err == nil && !it.Deleted && it.Kind == protocol.ItemWorkload && c.cfg.Pods != nil {
		if ns, name, ok := strings.Cut(it.Name, "/"); ok {
			pods := c.cfg.Pods.Counts(ns, name)
			st.Pods = &pods
		}
	}
	c.metrics.items.WithLabelValues(string(it.Kind), string(st.State)).Inc()
	if err != nil && !errors.Is(err, context.Canceled) {
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
		pods := c.cfg.Pods.Counts(ns, name)
		out = append(out, protocol.ItemStatus{ItemKey: it.ItemKey, Revision: it.Revision, State: protocol.StateApplied, Pods: &pods})
	}
	return out
}
