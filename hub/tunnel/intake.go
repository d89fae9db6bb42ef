package tunnel

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ote-stack/ote/hub/store"
)

// intake takes what the sessions' readers hand over for the database
// (session starts and ends, inventories, item statuses) without ever making
// them wait, and writes it in batches from one goroutine: a reader that
// waited on the database would answer no ping meanwhile, and ten thousand
// agents' writes cost far less as a few transactions than as ten thousand.
// Reports of one cluster coalesce while they wait: the newest inventory and
// the newest status of each item are what gets written.
type intake struct {
	store store.Store
	log   *slog.Logger
	every time.Duration

	wake     chan struct{} // cap 1: a batch of reports is full, write now
	sessWake chan struct{} // cap 1: session events wait

	mu          sync.Mutex
	sessions    []pendingSession
	inventories map[uint64]*pendingInventory
	statuses    map[statusKey]store.ItemStatus
	perCluster  map[uint64]int // statuses waiting per cluster
	// refresh holds the workloads whose deployments' status must be
	// computed again from saved statuses: the refresh failed, and no
	// agent may report again to make it happen.
	refresh map[string]bool
	// drift holds out-of-band changes reported, apart from the statuses
	// (which coalesce: a report without drift may follow at once).
	drift []store.Drift
	// onDrift counts the changes recorded for the first time, by action.
	onDrift func(corrected bool, n int)
}

// pendingSession is a session event waiting to be written; done is
// closed, and written set if not nil, once it is.
type pendingSession struct {
	event   store.SessionEvent
	done    chan struct{}
	written *atomic.Bool
}

type statusKey struct {
	cluster    uint64
	kind, name string
}

// pendingInventory is a cluster's inventory reports merged: a whole
// inventory (full) or upserts and removals since the last write.
type pendingInventory struct {
	full    bool
	nodes   map[string]store.Node
	removed map[string]bool
}

// Bounds of what waits in the intake.
const (
	// intakeBatch wakes the writer before its tick.
	intakeBatch = 2000
	// maxPendingStatuses is the most item statuses of one cluster that may
	// wait; a cluster reporting more distinct items than that between two
	// writes is flooding (an agent reports the items it was sent).
	maxPendingStatuses = 20_000
	// maxPendingRetry bounds what a failing database keeps waiting.
	maxPendingRetry = 200_000
	// maxPendingDrift bounds the drift reports waiting; beyond it they
	// are dropped with a log line (the agent reports a change again while
	// it lasts, and a corrected one is in its metric).
	maxPendingDrift = 10_000
)

func newIntake(st store.Store, log *slog.Logger, every time.Duration) *intake {
	return &intake{
		store: st, log: log, every: every, wake: make(chan struct{}, 1), sessWake: make(chan struct{}, 1),
		inventories: map[uint64]*pendingInventory{},
		statuses:    map[statusKey]store.ItemStatus{},
		perCluster:  map[uint64]int{},
		refresh:     map[string]bool{},
	}
}

func (in *intake) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// session queues the start or end of a session; the channel it returns is
// closed, and written (if not nil) set, once the event is written.
func (in *intake) session(e store.SessionEvent, written *atomic.Bool) <-chan struct{} {
	done := make(chan struct{})
	in.mu.Lock()
	in.sessions = append(in.sessions, pendingSession{e, done, written})
	in.mu.Unlock()
	select {
	case in.sessWake <- struct{}{}:
	default:
	}
	return done
}

// inventory merges a report of cluster id into what waits for it.
func (in *intake) inventory(id uint64, full bool, nodes []store.Node, removed []string) {
	in.mu.Lock()
	p := in.inventories[id]
	if p == nil || full {
		p = &pendingInventory{full: full, nodes: make(map[string]store.Node, len(nodes)), removed: map[string]bool{}}
		in.inventories[id] = p
	}
	p.add(nodes, removed)
	n := len(in.inventories)
	in.mu.Unlock()
	if n >= intakeBatch {
		in.poke()
	}
}

func (p *pendingInventory) add(nodes []store.Node, removed []string) {
	for _, name := range removed {
		delete(p.nodes, name)
		if !p.full {
			p.removed[name] = true
		}
	}
	for _, n := range nodes {
		p.nodes[n.Name] = n
		delete(p.removed, n.Name)
	}
}

// statusBatch queues item statuses of cluster id; it reports false, queuing
// nothing, when the cluster already has maxPendingStatuses waiting.
func (in *intake) statusBatch(id uint64, batch []store.ItemStatus) bool {
	in.mu.Lock()
	if in.perCluster[id]+len(batch) > maxPendingStatuses {
		in.mu.Unlock()
		return false
	}
	for _, st := range batch {
		k := statusKey{st.ClusterID, st.Kind, st.Name}
		if old, ok := in.statuses[k]; ok {
			if old.Revision > st.Revision {
				continue
			}
		} else {
			in.perCluster[id]++
		}
		in.statuses[k] = st
	}
	n := len(in.statuses)
	in.mu.Unlock()
	if n >= intakeBatch {
		in.poke()
	}
	return true
}

// driftReports queues out-of-band changes that cluster id reported.
func (in *intake) driftReports(ds []store.Drift) {
	in.mu.Lock()
	room := maxPendingDrift - len(in.drift)
	if room < len(ds) {
		in.log.Warn("drift reports dropped: too many waiting", "dropped", len(ds)-max(room, 0))
		ds = ds[:max(room, 0)]
	}
	in.drift = append(in.drift, ds...)
	in.mu.Unlock()
}

// sessionGather is how long the session writer gathers events before it
// writes them: a storm of reconnects is written in a few transactions.
const sessionGather = 20 * time.Millisecond

// runSessions writes session events soon after they arrive until ctx ends,
// then writes what is left. Welcomes may wait on it (a cluster's first
// session), so it does not wait behind the reports.
func (in *intake) runSessions(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			in.flushSessions(context.Background())
			return
		case <-in.sessWake:
		}
		select {
		case <-ctx.Done():
		case <-time.After(sessionGather):
		}
		in.flushSessions(ctx)
	}
}

// flushSessions writes the session events that wait; those that fail wait
// again, before what arrived meanwhile, within maxPendingRetry.
func (in *intake) flushSessions(ctx context.Context) {
	in.mu.Lock()
	sessions := in.sessions
	in.sessions = nil
	in.mu.Unlock()
	if len(sessions) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	events := make([]store.SessionEvent, len(sessions))
	for i, p := range sessions {
		events[i] = p.event
	}
	if err := in.store.RecordSessions(qctx, events); err != nil {
		in.log.Error("record session starts and ends; will retry", "events", len(sessions), "err", err)
		in.mu.Lock()
		if len(sessions)+len(in.sessions) <= maxPendingRetry {
			in.sessions = append(sessions, in.sessions...)
		}
		in.mu.Unlock()
		select {
		case in.sessWake <- struct{}{}:
		default:
		}
		return
	}
	for _, p := range sessions {
		if p.written != nil {
			p.written.Store(true)
		}
		close(p.done)
	}
}

// runReports writes inventories and statuses every period (and when a
// batch is full) until ctx ends, then writes what is left.
func (in *intake) runReports(ctx context.Context) {
	t := time.NewTicker(in.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			in.flushReports(context.Background())
			return
		case <-in.wake:
		case <-t.C:
		}
		in.flushReports(ctx)
	}
}

// flushReports writes the inventories and statuses that wait. What fails to
// be written waits again, under what arrived meanwhile, within
// maxPendingRetry.
func (in *intake) flushReports(ctx context.Context) {
	in.mu.Lock()
	inventories, statuses, refresh, drift := in.inventories, in.statuses, in.refresh, in.drift
	in.inventories, in.statuses, in.perCluster, in.refresh, in.drift = map[uint64]*pendingInventory{}, map[statusKey]store.ItemStatus{}, map[uint64]int{}, map[string]bool{}, nil
	in.mu.Unlock()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if len(inventories) > 0 {
		reports := make([]store.InventoryReport, 0, len(inventories))
		for id, p := range inventories {
			reports = append(reports, store.InventoryReport{
				ClusterID: id, Full: p.full, Nodes: slices.Collect(maps.Values(p.nodes)), Removed: slices.Collect(maps.Keys(p.removed)),
			})
		}
		if err := in.store.SaveInventories(qctx, reports); err != nil {
			in.log.Error("record inventories; will retry", "clusters", len(reports), "err", err)
			in.mu.Lock()
			for id, newer := range in.inventories {
				if old := inventories[id]; old != nil && !newer.full {
					old.add(slices.Collect(maps.Values(newer.nodes)), slices.Collect(maps.Keys(newer.removed)))
					continue
				}
				inventories[id] = newer
			}
			if len(inventories) <= maxPendingRetry {
				in.inventories = inventories
			}
			in.mu.Unlock()
		}
	}
	if len(statuses) > 0 {
		batch := make([]store.ItemStatus, 0, len(statuses))
		for _, st := range statuses {
			batch = append(batch, st)
		}
		if err := in.store.SaveItemStatuses(qctx, batch); err != nil {
			// Agents report a status once: it waits for the next write.
			in.log.Error("record item statuses; will retry", "items", len(batch), "err", err)
			in.mu.Lock()
			for _, st := range batch {
				k := statusKey{st.ClusterID, st.Kind, st.Name}
				if _, newer := in.statuses[k]; !newer && len(in.statuses) < maxPendingRetry {
					in.statuses[k] = st
					in.perCluster[st.ClusterID]++
				}
			}
			maps.Copy(in.refresh, refresh)
			in.mu.Unlock()
			return
		}
		for _, st := range batch {
			if st.Kind == store.ItemWorkload {
				refresh[st.Name] = true
			}
		}
	}
	if len(drift) > 0 {
		in.recordDrift(qctx, drift)
	}
	if len(refresh) > 0 {
		if err := in.store.RefreshDeployStatus(qctx, slices.Collect(maps.Keys(refresh))); err != nil {
			in.log.Error("refresh deployment status; will retry", "workloads", len(refresh), "err", err)
			in.mu.Lock()
			if len(refresh)+len(in.refresh) <= maxPendingRetry {
				maps.Copy(in.refresh, refresh)
			}
			in.mu.Unlock()
		}
	}
}

// recordDrift writes drift reports; on failure they wait for the next
// write, within maxPendingDrift.
func (in *intake) recordDrift(ctx context.Context, ds []store.Drift) {
	var corrected, reported []store.Drift
	for _, d := range ds {
		if d.Corrected {
			corrected = append(corrected, d)
		} else {
			reported = append(reported, d)
		}
	}
	for _, part := range []struct {
		ds        []store.Drift
		corrected bool
	}{{corrected, true}, {reported, false}} {
		if len(part.ds) == 0 {
			continue
		}
		n, err := in.store.RecordDrift(ctx, part.ds)
		if err != nil {
			in.log.Error("record drift; will retry", "changes", len(part.ds), "err", err)
			in.driftReports(part.ds)
			continue
		}
		if in.onDrift != nil && n > 0 {
			in.onDrift(part.corrected, n)
		}
	}
}
