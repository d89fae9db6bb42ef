package tunnel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/pkg/wsconn"
	"github.com/ote-stack/ote/protocol"
)

// session is one agent's tunnel, on two goroutines at most: Serve's reads
// and handles the agent's messages without waiting on the database (the
// intake writes what they report); the peer's writer runs while there is
// something to write: a queued message, or, when the hub wakes it, the
// desired state the agent has not been sent (produce). The hub's pinger
// pings every session from one goroutine, so an idle session is one
// goroutine.
type session struct {
	hub     *Hub
	id      string
	cluster *store.Cluster
	peer    *wsconn.Peer
	log     interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}

	lastHeard atomic.Int64 // unix nanos of the last message
	hello     bool         // Hello received (reader only)
	budget    flood        // the agent's message rate (reader only)

	// syncing is set once hello is accepted; sent and first belong to the
	// writer from then on (set before syncing, read after it).
	syncing  atomic.Bool
	recorded <-chan struct{} // closed once the session's start is written; nil: no need to wait
	// startWritten is set once the session's start is in the database:
	// from then on, a different session recorded for the cluster (by
	// another replica) means this one was replaced.
	startWritten atomic.Bool
	welcomed     bool   // the welcome is written
	sent         uint64 // the revision the agent has been sent up to
	first        bool   // the next Desired is the resync
}

// closeError is the error with which the hub ends a session deliberately.
type closeError struct {
	code   string
	reason string
}

func (e *closeError) Error() string { return e.code + ": " + e.reason }

// Serve runs the session of an authenticated cluster on conn until it ends.
// Once Stop has begun, it closes conn and returns at once.
func (h *Hub) Serve(conn wsconn.Conn, cluster *store.Cluster) {
	stopCtx, ok := h.admit()
	if !ok {
		// Say why (1001, going away) and close; the agent comes back later.
		frame := append([]byte{1001 >> 8, 1001 & 0xff}, "hub shutting down"...)
		err := conn.WriteControl(wsconn.CloseMessage, frame, time.Now().Add(time.Second))
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			h.log.Debug("close a connection refused during shutdown", "cluster", cluster.Name, "err", err)
		}
		return
	}
	defer h.serving.Done()
	var idb [8]byte
	rand.Read(idb[:]) // never fails (crypto/rand, Go 1.24+)
	s := &session{
		hub: h, id: hex.EncodeToString(idb[:]), cluster: cluster,
		log:    h.log.With("cluster", cluster.Name, "session", hex.EncodeToString(idb[:])),
		budget: newFlood(time.Now()),
	}
	s.lastHeard.Store(time.Now().UnixNano())
	s.peer = wsconn.New(conn, wsconn.Options{
		ReadTimeout:  3 * h.opts.Heartbeat,
		Pinger:       h.pinger,
		WriteTimeout: h.opts.WriteTimeout,
		MaxMessage:   protocol.MaxMessageSize,
		// Only the errors that end a session are queued (welcome and
		// desired state are written by produce).
		QueueLen: 4,
		Produce:  s.produce,
	})
	err := s.peer.Run(stopCtx, s.handle)

	// The end is queued before it is logged: what follows the log line
	// (a test, an operator) finds it recorded in order.
	if s.hello && h.unregister(s) {
		h.intake.session(store.SessionEvent{ClusterID: cluster.ID, Session: s.id, At: time.Now()}, nil)
	}
	ce := s.closeReason(err)
	reason := "disconnected"
	if ce != nil {
		reason = ce.code
		s.log.Warn("session closed by the hub", "code", ce.code, "reason", ce.reason)
	} else {
		s.log.Info("session ended", "err", err)
	}
	h.metrics.refused.WithLabelValues(reason).Inc()
}

// closeReason is why the hub ended the session, given what Run returned;
// nil when the agent ended it (or the hub stopped).
func (s *session) closeReason(err error) *closeError {
	var ce *closeError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, wsconn.ErrReadTimeout):
		return &closeError{code: codeReadTimeout, reason: err.Error()}
	case errors.Is(err, wsconn.ErrWriteFailed):
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return &closeError{code: codeSendTimeout, reason: err.Error() + "; the agent reads too slowly"}
		}
		return &closeError{code: codeSendFailed, reason: err.Error()}
	}
	return nil
}

// Codes of the sessions that the hub ends because a message could not go out.
const (
	codeSendTimeout = "send_timeout"
	codeSendFailed  = "send_failed"
	// codeReadTimeout: the agent sent nothing and answered no ping for
	// three heartbeats, or answered no ping though it sent (it does not
	// read what it is sent).
	codeReadTimeout = "read_timeout"
	// codeFlood: the agent sent more than its budget (see flood).
	codeFlood = "flood"
)

// refuse sends an Error to the agent and ends the session.
func (s *session) refuse(code, format string, args ...any) error {
	e := &closeError{code: code, reason: fmt.Sprintf(format, args...)}
	s.sayAndClose(context.Background(), 4000, code, &protocol.Error{Code: code, Message: e.reason})
	return e
}

// sayAndClose tells the agent why its session ends, if the message can go
// out within the send timeout, and closes the session. The close does not
// depend on the message: an agent that does not read is closed all the same.
func (s *session) sayAndClose(ctx context.Context, closeCode int, closeReason string, e *protocol.Error) {
	if err := s.send(ctx, &protocol.Message{Kind: protocol.KindError, Error: e}); err != nil {
		s.log.Info("could not tell the agent why its session ends", "code", e.Code, "err", err)
	}
	s.peer.Close(closeCode, closeReason)
}

// send queues m for the writer. It returns an error when m cannot be queued
// within the send timeout or the session is closing; the caller must not
// count m as sent. Once queued, m is written or the session closes (the
// writer closes the peer on a failed write), so an agent never misses a
// message without its session ending and a resync following.
func (s *session) send(ctx context.Context, m *protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Kind, err)
	}
	sctx, cancel := context.WithTimeout(ctx, s.hub.opts.SendTimeout)
	defer cancel()
	if err := s.peer.Send(sctx, b); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	s.hub.metrics.counted(string(m.Kind), "out", len(b))
	return nil
}

// handle processes one message from the agent; an error ends the session.
// It never waits on the database.
func (s *session) handle(b []byte) error {
	now := time.Now()
	s.lastHeard.Store(now.UnixNano())
	if why := s.budget.take(now, len(b)); why != "" {
		return s.refuse(codeFlood, "%s", why)
	}
	m, err := protocol.Decode(b)
	if errors.Is(err, protocol.ErrUnknownKind) {
		// A newer agent's addition: ignored, not refused (protocol.Version).
		s.log.Warn("ignored a message this hub does not know", "err", err)
		return nil
	}
	if err != nil {
		return s.refuse(protocol.ErrCodeBadMessage, "%v", err)
	}
	if len(m.Skipped) > 0 {
		s.log.Warn("ignored parts of a message this hub does not know", "kind", m.Kind, "skipped", m.Skipped)
	}
	s.hub.metrics.counted(string(m.Kind), "in", len(b))
	if m.Cluster != "" && m.Cluster != s.cluster.Name {
		return s.refuse(protocol.ErrCodeWrongCluster, "message for cluster %q on the session of cluster %q", m.Cluster, s.cluster.Name)
	}
	if !s.hello && m.Kind != protocol.KindHello {
		return s.refuse(protocol.ErrCodeUnexpected, "the first message must be hello, got %s", m.Kind)
	}
	switch m.Kind {
	case protocol.KindHello:
		if s.hello {
			return s.refuse(protocol.ErrCodeUnexpected, "hello sent twice")
		}
		return s.onHello(m.Hello)
	case protocol.KindInventory:
		s.onInventory(m.Inventory)
		return nil
	case protocol.KindStatus:
		return s.onStatus(m.Status)
	case protocol.KindHeartbeat:
		return nil
	case protocol.KindError:
		return &closeError{code: "agent_error", reason: m.Error.Error()}
	default:
		return s.refuse(protocol.ErrCodeUnexpected, "agents do not send %s", m.Kind)
	}
}

func (s *session) onHello(hello *protocol.Hello) error {
	if !protocol.Serves(hello.ProtocolVersion) {
		return s.refuse(protocol.ErrCodeProtocol, "hub speaks protocol %d and serves agents of %d and later, agent %d: upgrade the agent",
			protocol.Version, protocol.MinVersion, hello.ProtocolVersion)
	}
	h := s.hub
	old, ok := h.register(s)
	if !ok {
		// Stop began after this session was admitted: it ends like the
		// sessions Stop closed.
		s.shutdown(context.Background(), s.hub.opts.ComeBack+mrand.N(s.hub.comeBackWindow(1)))
		return &closeError{code: protocol.ErrCodeShutdown, reason: "hello during the hub's shutdown"}
	}
	s.hello = true
	if old != nil {
		old.replaced()
	}
	recorded := h.intake.session(store.SessionEvent{ClusterID: s.cluster.ID, Session: s.id, Connected: true, AgentVersion: hello.AgentVersion, At: time.Now()}, &s.startWritten)
	if !s.cluster.FirstConnectedAt.IsZero() {
		// Only a cluster's first session waits to be recorded (its name
		// is taken for good then); the others are welcomed at once.
		recorded = nil
	}
	s.log.Info("agent connected", "agent_version", hello.AgentVersion, "protocol", hello.ProtocolVersion, "applied_revision", hello.AppliedRevision)
	// The writer owns these from here: it welcomes the agent once the
	// session is recorded, then sends the resync.
	s.recorded, s.sent, s.first = recorded, hello.AppliedRevision, true
	s.syncing.Store(true)
	s.peer.Wake()
	return nil
}

// produce runs on the peer's writer when the session is woken: it sends the
// desired state after sent, the resync first. A message that cannot be
// written ends the session (the agent reconnects and resyncs from the
// revision it has applied), so sent never counts what the agent missed.
func (s *session) produce(write func([]byte) error) error {
	if !s.syncing.Load() {
		return nil
	}
	ctx := s.peer.Context()
	if !s.welcomed {
		if err := s.welcome(ctx, write); err != nil || !s.welcomed {
			return err
		}
	}
	if s.first {
		// The resync holds everything this process has written (the tail
		// has read every write notified so far) and what the agent has
		// seen: if the log lacks revisions the agent has, the database's
		// newest are read; if it has not got them either, it was
		// replaced, and the agent starts over from the full state.
		s.hub.catchUp(ctx, s.sent)
		if s.sent > s.hub.logHead() {
			s.sent = 0
		}
	}
	for {
		items, upTo, err := s.hub.itemsFor(ctx, s.cluster.ID, s.sent)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the session is closing
			}
			return &closeError{code: "desired_read_failed", reason: "hub could not read desired state: " + err.Error()}
		}
		if len(items) == 0 && upTo <= s.sent && !s.first {
			return nil
		}
		items, upTo, err = s.sendDesired(write, items, upTo, s.first)
		if err != nil {
			return err
		}
		s.sent, s.first = upTo, false
		if len(items) == 0 {
			return nil
		}
	}
}

// welcome writes the Welcome, for a cluster's first session once its start
// is recorded: an agent welcomed holds its cluster's name for good (no
// join can take it).
// It returns with welcomed unset when the session closes first.
func (s *session) welcome(ctx context.Context, write func([]byte) error) error {
	if s.recorded != nil {
		select {
		case <-s.recorded:
		case <-ctx.Done():
			return nil
		}
	}
	b, err := protocol.Encode(&protocol.Message{Kind: protocol.KindWelcome, Welcome: &protocol.Welcome{
		ProtocolVersion: protocol.Version,
		HeartbeatMillis: s.hub.opts.Heartbeat.Milliseconds(),
		Revision:        s.hub.logHead(),
	}})
	if err != nil {
		return err
	}
	if err := write(b); err != nil {
		return fmt.Errorf("%w: welcome: %w", wsconn.ErrWriteFailed, err)
	}
	s.hub.metrics.counted(string(protocol.KindWelcome), "out", len(b))
	s.welcomed, s.recorded = true, nil
	return nil
}

// sendDesired writes items and upTo in one Desired message. A message over
// the protocol's size limit is sent as the longest prefix of items that
// fits (halving), with upTo the last of them; it returns what it sent. An
// item that alone exceeds the limit cannot reach the agent: it is logged as
// an error and the agent is moved past its revision, so that the items after
// it still flow.
func (s *session) sendDesired(write func([]byte) error, items []store.DesiredItem, upTo uint64, resync bool) ([]store.DesiredItem, uint64, error) {
	for {
		msg := &protocol.Desired{Items: make([]protocol.Item, len(items)), UpTo: upTo, Resync: resync}
		for i, it := range items {
			msg.Items[i] = protocol.Item{
				ItemKey:  protocol.ItemKey{Kind: protocol.ItemKind(it.Kind), Name: it.Name},
				Revision: it.Revision, Deleted: it.Deleted,
			}
			if len(it.Spec) > 0 {
				msg.Items[i].Spec = it.Spec
			}
		}
		b, err := protocol.Encode(&protocol.Message{Kind: protocol.KindDesired, Desired: msg})
		if err == nil {
			if err := write(b); err != nil {
				return items, upTo, fmt.Errorf("%w: desired: %w", wsconn.ErrWriteFailed, err)
			}
			s.hub.metrics.counted(string(protocol.KindDesired), "out", len(b))
			return items, upTo, nil
		}
		if !errors.Is(err, protocol.ErrTooLarge) {
			return items, upTo, fmt.Errorf("encode desired: %w", err)
		}
		if len(items) == 1 {
			s.log.Error("desired item too large for one tunnel message; the agent cannot receive it",
				"kind", items[0].Kind, "name", items[0].Name, "revision", items[0].Revision, "limit", protocol.MaxMessageSize)
			items = nil
			continue
		}
		if len(items) == 0 {
			return items, upTo, err // an empty message never exceeds the limit
		}
		items = items[:len(items)/2]
		upTo = items[len(items)-1].Revision
	}
}

// poke has the writer send what the agent has not been sent.
func (s *session) poke() { s.peer.Wake() }

func (s *session) replaced() {
	// The new session's reader must not wait long on the old one's queue.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.sayAndClose(ctx, 4001, "replaced by a newer session", &protocol.Error{
		Code: protocol.ErrCodeReplaced, Message: "a newer session of this cluster replaced this one",
	})
}

// shutdown tells the agent that the hub is stopping and when to come back
// (comeBack), waiting for room in its queue until ctx ends at the latest,
// and closes the session.
func (s *session) shutdown(ctx context.Context, comeBack time.Duration) {
	s.sayAndClose(ctx, 1001, "hub shutting down", &protocol.Error{
		Code: protocol.ErrCodeShutdown, Message: "hub is shutting down",
		RetryAfterMillis: comeBack.Milliseconds(),
	})
}

func (s *session) onInventory(inv *protocol.Inventory) {
	valid, removed := s.validNodes(inv)
	nodes := make([]store.Node, len(valid))
	for i, n := range valid {
		nodes[i] = store.Node{
			Name: n.Name, OperatingSystem: n.OperatingSystem, OSImage: n.OSImage, KernelVersion: n.KernelVersion,
			IP: n.IP, CPU: n.CPU, Memory: n.Memory, Disk: n.Disk, GPUCount: n.GPUCount, GPUMemory: n.GPUMemory, Ready: n.Ready,
		}
	}
	s.hub.intake.inventory(s.cluster.ID, inv.Full, nodes, removed)
}

func (s *session) onStatus(st *protocol.Status) error {
	if len(st.Items) == 0 {
		return nil
	}
	batch := make([]store.ItemStatus, len(st.Items))
	for i, it := range st.Items {
		batch[i] = store.ItemStatus{ClusterID: s.cluster.ID, Kind: string(it.Kind), Name: it.Name, Revision: it.Revision, State: string(it.State), Message: it.Message}
		if it.Pods != nil {
			batch[i].Pods = &store.PodCounts{Desired: it.Pods.Desired, Running: it.Pods.Running, Failed: it.Pods.Failed}
		}
	}
	if !s.hub.intake.statusBatch(s.cluster.ID, batch) {
		return s.refuse(codeFlood, "more than %d item statuses waiting to be written", maxPendingStatuses)
	}
	var drift []store.Drift
	for _, it := range st.Items {
		if it.Kind != protocol.ItemWorkload {
			continue
		}
		for _, d := range it.Drift {
			// The agent's clock and text are its own: a time is kept
			// within [0, an hour from now], so that a database takes it.
			at := time.Unix(min(max(d.At, 0), time.Now().Add(time.Hour).Unix()), 0)
			drift = append(drift, store.Drift{ClusterID: s.cluster.ID, Name: it.Name, Object: d.Object, Field: d.Field,
				Desired: d.Desired, Actual: d.Actual, Manager: d.Manager, At: at, Corrected: d.Corrected})
		}
	}
	if len(drift) > 0 {
		s.hub.intake.driftReports(drift)
	}
	return nil
}

// flood is a session's budget of messages and bytes from the agent: a
// bucket of each, refilled at a steady rate. An agent sends a heartbeat per
// period, its inventory when nodes change and the statuses of what it
// applies (coalesced), far below either rate; a peer that empties a bucket
// is closed rather than let it take the hub's time from other sessions.
type flood struct {
	msgs, bytes float64
	last        time.Time
}

// The budget: messages and bytes per second, and the bursts.
const (
	floodRate       = 100
	floodBurst      = 2000
	floodByteRate   = 2 << 20
	floodByteBurstN = 2 // times protocol.MaxMessageSize
)

func newFlood(now time.Time) flood {
	return flood{msgs: floodBurst, bytes: floodByteBurstN * protocol.MaxMessageSize, last: now}
}

// take spends one message of n bytes; it says why when the budget is spent.
func (f *flood) take(now time.Time, n int) string {
	dt := now.Sub(f.last).Seconds()
	f.last = now
	f.msgs = min(floodBurst, f.msgs+dt*floodRate) - 1
	f.bytes = min(floodByteBurstN*protocol.MaxMessageSize, f.bytes+dt*floodByteRate) - float64(n)
	switch {
	case f.msgs < 0:
		return fmt.Sprintf("more than %d messages at once or %d a second", floodBurst, floodRate)
	case f.bytes < 0:
		return fmt.Sprintf("more than %d MiB at once or %d MiB a second", floodByteBurstN*protocol.MaxMessageSize>>20, floodByteRate>>20)
	}
	return ""
}
