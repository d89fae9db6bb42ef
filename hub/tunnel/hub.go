// Package tunnel is the hub's end of the agents' websocket tunnels: one
// session per connected cluster, resync on connect, fan-out of new desired
// state, inventory and status intake, and the heartbeats that keep a cluster
// ready.
//
// Desired state flows from the database, its source of truth: writers commit
// items with increasing revisions and call Notify; the hub's tail loop reads
// the new items once into an in-memory log and wakes the sessions concerned,
// which send each agent what it has not seen. The loop also polls, so writes
// made by other hub replicas reach this replica's agents within PollEvery.
package tunnel

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/pkg/logthrottle"
	"github.com/ote-stack/ote/pkg/wsconn"
)

// Options tune the tunnel.
type Options struct {
	// Heartbeat is the agents' heartbeat period; a cluster silent for three
	// periods is not ready and its session is closed.
	Heartbeat time.Duration
	// PollEvery is how often the database is polled for desired state
	// written elsewhere (another replica).
	PollEvery time.Duration
	// LogSize is how many recent desired items are kept in memory for
	// fan-out; agents further behind are served from the database.
	LogSize int
	// Batch is the most items in one Desired message.
	Batch int
	// WriteTimeout bounds one write of a message (or ping) to an agent's
	// socket; a write that does not finish in time closes the session.
	WriteTimeout time.Duration
	// SendTimeout bounds how long a message that ends a session (an
	// error, the shutdown's come-back time) waits for room in the
	// session's queue; the session is closed all the same. Desired state
	// is not queued: the session's writer writes it. Default: WriteTimeout.
	SendTimeout time.Duration
	// ComeBack and ComeBackRate spread the reconnects of a graceful
	// shutdown: each agent is told to dial again after ComeBack (time for
	// the hub to restart, default 500 ms) plus a delay drawn uniformly over
	// one second per ComeBackRate agents (default 4,000, within a listen
	// backlog of 4,096), and half a second at the least.
	ComeBack     time.Duration
	ComeBackRate int
}

func (o *Options) defaults() {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.LogSize <= 0 {
		o.LogSize = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.ComeBack <= 0 {
		o.ComeBack = 500 * time.Millisecond
	}
	if o.ComeBackRate <= 0 {
		o.ComeBackRate = 4000
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = o.WriteTimeout
	}
}

// Hub holds the sessions of one hub process.
type Hub struct {
	store   store.Store
	log     *slog.Logger
	opts    Options
	metrics *metrics

	wake   chan struct{}      // Notify → tail loop
	pinger *wsconn.Pinger     // pings every session
	intake *intake            // sessions → database
	reads  chan *desiredRead  // sessions' writers → desiredReader
	cancel context.CancelFunc // stops the background loops
	loops  sync.WaitGroup     // the background loops

	// stopCtx ends once Stop has told the registered sessions; every
	// admitted session's connection ends with it.
	stopCtx      context.Context
	stopSessions context.CancelFunc
	stopOnce     sync.Once

	mu       sync.Mutex // guards sessions and stopping, and orders serving.Add before serving.Wait
	sessions map[uint64]*session
	stopping bool           // Stop has begun: Serve admits and register accepts no session
	serving  sync.WaitGroup // admitted Serve calls; Add only under mu while !stopping

	// ownersPending holds the clusters whose sessions another replica
	// may have taken (ownersAll: any), for ownersLoop (owners.go).
	ownersMu      sync.Mutex
	ownersPending map[uint64]bool
	ownersAll     bool
	ownersWake    chan struct{} // cap 1

	// refusedNodes keeps the log line of a refused node to one an hour.
	refusedNodes *logthrottle.Throttle

	// tailMu serialises readTail: the tail loop and sessions that need a
	// fresher log than the loop has read (onHello).
	tailMu sync.Mutex
	// notified counts Notify calls; tailSeen is the count when the last
	// read of the tail began (a read sees every write notified before).
	notified, tailSeen atomic.Uint64
	logMu              sync.RWMutex // guards items, floor and head
	// items holds every desired item with floor < revision <= head, in
	// revision order: the recent past of all clusters.
	items       []store.DesiredItem
	floor, head uint64
}

// New returns a hub; Start it before serving.
func New(st store.Store, log *slog.Logger, reg prometheus.Registerer, opts Options) (*Hub, error) {
	opts.defaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	stopCtx, stopSessions := context.WithCancel(context.Background())
	in := newIntake(st, log, 200*time.Millisecond)
	in.onDrift = func(corrected bool, n int) {
		action := "reported"
		if corrected {
			action = "corrected"
		}
		m.drift.WithLabelValues(action).Add(float64(n))
	}
	return &Hub{
		store: st, log: log, opts: opts, metrics: m,
		stopCtx: stopCtx, stopSessions: stopSessions,
		wake:     make(chan struct{}, 1),
		intake:   in,
		pinger:   wsconn.NewPinger(opts.Heartbeat / 2),
		reads:    make(chan *desiredRead),
		sessions: map[uint64]*session{},

		ownersPending: map[uint64]bool{},
		ownersWake:    make(chan struct{}, 1),
		refusedNodes:  logthrottle.New(time.Hour),
	}, nil
}

// Heartbeat is the agents' heartbeat period.
func (h *Hub) Heartbeat() time.Duration { return h.opts.Heartbeat }

// ReadyWindow is how long a cluster stays ready after its agent was last heard.
func (h *Hub) ReadyWindow() time.Duration { return 3 * h.opts.Heartbeat }

// desiredReaders is how many sessions may read desired state from the
// database at once (agents further behind than the log).
const desiredReaders = 4

// Start reads the recent desired state into the log (all of it when it
// fits: agents that connect are then served from memory) and runs the
// background loops until Stop.
func (h *Hub) Start(ctx context.Context) error {
	rev, err := h.store.Revision(ctx)
	if err != nil {
		return err
	}
	h.floor, h.head = 0, 0
	h.readTail(ctx)
	if h.head < rev {
		// The log could not be read up to the database's revision: serve
		// what it lacks from the database.
		h.floor, h.head, h.items = rev, rev, nil
	}
	h.metrics.revision.Set(float64(h.head))
	ctx, h.cancel = context.WithCancel(context.Background())
	h.loops.Add(6 + desiredReaders)
	go func() { defer h.loops.Done(); h.ownersLoop(ctx) }()
	go func() { defer h.loops.Done(); h.pinger.Run(ctx) }()
	go func() { defer h.loops.Done(); h.tailLoop(ctx) }()
	go func() { defer h.loops.Done(); h.heartbeatLoop(ctx) }()
	go func() { defer h.loops.Done(); h.intake.runSessions(ctx) }()
	go func() { defer h.loops.Done(); h.intake.runReports(ctx) }()
	for range desiredReaders {
		go func() { defer h.loops.Done(); h.desiredReader(ctx) }()
	}
	return nil
}

// desiredRead asks a desiredReader for the items of a cluster after a
// revision.
type desiredRead struct {
	ctx     context.Context
	cluster uint64
	after   uint64
	items   []store.DesiredItem
	err     error
	done    chan struct{}
}

// desiredReader serves desiredReads until ctx ends: the database work of
// the sessions' writers is done here, a few at a time.
func (h *Hub) desiredReader(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-h.reads:
			r.items, r.err = h.store.DesiredSince(r.ctx, r.cluster, r.after, h.opts.Batch)
			close(r.done)
		}
	}
}

// readDesired has a desiredReader read the items of cluster after a
// revision, waiting until ctx ends at the latest.
func (h *Hub) readDesired(ctx context.Context, cluster, after uint64) ([]store.DesiredItem, error) {
	r := &desiredRead{ctx: ctx, cluster: cluster, after: after, done: make(chan struct{})}
	select {
	case h.reads <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-r.done
	return r.items, r.err
}

// logHead is the newest revision in the log.
func (h *Hub) logHead() uint64 {
	h.logMu.RLock()
	defer h.logMu.RUnlock()
	return h.head
}

// shutdownWorkers is how many sessions Stop tells at once that the hub stops.
const shutdownWorkers = 64

// Stop refuses new sessions, tells each registered agent that the hub is
// shutting down (waiting at most SendTimeout in all for room in their
// queues), closes every admitted session, waits for them to end, then stops
// the loops. It never holds the sessions lock while sending. Calls after the
// first wait for it to finish.
func (h *Hub) Stop() { h.stopOnce.Do(h.stop) }

func (h *Hub) stop() {
	h.mu.Lock()
	h.stopping = true
	sessions := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), h.opts.SendTimeout)
	todo := make(chan *session)
	var workers sync.WaitGroup
	window := h.comeBackWindow(len(sessions))
	for range min(shutdownWorkers, len(sessions)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for s := range todo {
				s.shutdown(ctx, h.opts.ComeBack+rand.N(window))
			}
		}()
	}
	for _, s := range sessions {
		todo <- s
	}
	close(todo)
	workers.Wait()
	cancel()

	h.stopSessions() // and the sessions not yet registered
	h.serving.Wait()
	if h.cancel != nil {
		h.cancel()
	}
	h.loops.Wait()
}

// comeBackWindow is the window over which n agents are told to come back:
// one second per ComeBackRate agents, half a second at the least.
func (h *Hub) comeBackWindow(n int) time.Duration {
	return max(500*time.Millisecond, time.Duration(n)*time.Second/time.Duration(h.opts.ComeBackRate))
}

// admit counts a Serve call in unless Stop has begun; it returns the context
// that ends when Stop closes the sessions.
func (h *Hub) admit() (context.Context, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return nil, false
	}
	h.serving.Add(1)
	return h.stopCtx, true
}

// Notify tells the hub that desired state was written. It never blocks.
func (h *Hub) Notify() {
	h.notified.Add(1)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Connected reports whether cluster id has a session on this hub.
func (h *Hub) Connected(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.sessions[id]
	return ok
}

// register makes s the session of its cluster and returns the one it
// replaces; it reports false, registering nothing, once Stop has begun.
func (h *Hub) register(s *session) (*session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return nil, false
	}
	old := h.sessions[s.cluster.ID]
	h.sessions[s.cluster.ID] = s
	h.metrics.sessions.Set(float64(len(h.sessions)))
	return old, true
}

// unregister removes s unless a newer session replaced it; it reports whether
// s was still the cluster's session.
func (h *Hub) unregister(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.cluster.ID] != s {
		return false
	}
	delete(h.sessions, s.cluster.ID)
	h.metrics.sessions.Set(float64(len(h.sessions)))
	return true
}

// tailLoop reads newly written desired items into the log and wakes the
// sessions they concern.
func (h *Hub) tailLoop(ctx context.Context) {
	poll := time.NewTicker(h.opts.PollEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-poll.C:
		}
		h.readTail(ctx)
	}
}

// catchUp reads the tail now unless the log holds revision rev and every
// write notified so far.
func (h *Hub) catchUp(ctx context.Context, rev uint64) {
	if h.logHead() >= rev && h.tailSeen.Load() >= h.notified.Load() {
		return
	}
	h.readTail(ctx)
}

func (h *Hub) readTail(ctx context.Context) {
	h.tailMu.Lock()
	defer h.tailMu.Unlock()
	// Every write notified before this read is committed: the read sees it.
	defer h.tailSeen.Store(h.notified.Load())
	all := false
	clusters := map[uint64]bool{}
	for {
		h.logMu.RLock()
		head := h.head
		h.logMu.RUnlock()
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		items, err := h.store.DesiredTail(qctx, head, 1000)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("read desired state", "err", err)
			}
			break
		}
		if len(items) == 0 {
			break
		}
		h.logMu.Lock()
		h.items = append(h.items, items...)
		h.head = items[len(items)-1].Revision
		if over := len(h.items) - h.opts.LogSize; over > 0 {
			h.floor = h.items[over-1].Revision
			h.items = append([]store.DesiredItem(nil), h.items[over:]...)
		}
		h.metrics.revision.Set(float64(h.head))
		h.logMu.Unlock()
		for _, it := range items {
			if it.ClusterID == store.AllClusters {
				all = true
			} else {
				clusters[it.ClusterID] = true
			}
		}
		if len(items) < 1000 {
			break
		}
	}
	if !all && len(clusters) == 0 {
		return
	}
	h.mu.Lock()
	for id, s := range h.sessions {
		if all || clusters[id] {
			s.poke()
		}
	}
	h.mu.Unlock()
}

// itemsFor returns up to Batch items of cluster id after revision after, and
// the revision the agent has caught up to once it has them.
func (h *Hub) itemsFor(ctx context.Context, id, after uint64) ([]store.DesiredItem, uint64, error) {
	h.logMu.RLock()
	if after >= h.floor {
		defer h.logMu.RUnlock()
		i := sort.Search(len(h.items), func(i int) bool { return h.items[i].Revision > after })
		var out []store.DesiredItem
		upTo := max(after, h.head)
		for ; i < len(h.items); i++ {
			it := h.items[i]
			if it.ClusterID != store.AllClusters && it.ClusterID != id {
				continue
			}
			if len(out) == h.opts.Batch {
				upTo = out[len(out)-1].Revision
				break
			}
			out = append(out, it)
		}
		return latestOnly(out), upTo, nil
	}
	h.logMu.RUnlock()
	items, err := h.readDesired(ctx, id, after)
	if err != nil {
		return nil, after, err
	}
	upTo := after
	if len(items) > 0 {
		upTo = items[len(items)-1].Revision
	}
	return items, upTo, nil
}

// heartbeatLoop records, once a period, which clusters were heard from.
func (h *Hub) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var ids []uint64
			h.mu.Lock()
			for id, s := range h.sessions {
				if time.Unix(0, s.lastHeard.Load()).After(last) {
					ids = append(ids, id)
				}
			}
			h.mu.Unlock()
			last = now
			if len(ids) == 0 {
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := h.store.TouchClusters(qctx, ids, now); err != nil && ctx.Err() == nil {
				h.log.Error("record heartbeats", "clusters", len(ids), "err", err)
			}
			cancel()
		}
	}
}

// latestOnly drops the items that a later item of the same key supersedes
// (the log keeps history; an agent needs only the newest state of each).
func latestOnly(items []store.DesiredItem) []store.DesiredItem {
	type key struct {
		cluster    uint64
		kind, name string
	}
	last := make(map[key]int, len(items))
	for i, it := range items {
		last[key{it.ClusterID, it.Kind, it.Name}] = i
	}
	if len(last) == len(items) {
		return items
	}
	out := items[:0:0]
	for i, it := range items {
		if last[key{it.ClusterID, it.Kind, it.Name}] == i {
			out = append(out, it)
		}
	}
	return out
}
