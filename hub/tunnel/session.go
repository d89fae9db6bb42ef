package tunnel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/pkg/wsconn"
	"github.com/ote-stack/ote/protocol"
)

// session is one agent's tunnel. Its reader runs in Serve's goroutine; a
// syncer goroutine sends desired state; the peer's writer goroutine writes.
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

	wake      chan struct{} // cap 1: something to send
	lastHeard atomic.Int64  // unix nanos of the last message
	hello     bool          // Hello received (reader goroutine only)
	syncDone  chan struct{} // closed when syncLoop has returned (or never ran)

	endMu  sync.Mutex  // guards endErr
	endErr *closeError // why the hub ended the session, when it did
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
		log:  h.log.With("cluster", cluster.Name, "session", hex.EncodeToString(idb[:])),
		wake: make(chan struct{}, 1), syncDone: make(chan struct{}),
	}
	s.lastHeard.Store(time.Now().UnixNano())
	s.peer = wsconn.New(conn, wsconn.Options{
		ReadTimeout:  3 * h.opts.Heartbeat,
		PingEvery:    h.opts.Heartbeat / 2,
		WriteTimeout: h.opts.WriteTimeout,
		MaxMessage:   protocol.MaxMessageSize,
		QueueLen:     16,
	})
	// The handlers' context outlives Stop's signal (stopCtx) so that what
	// the reader has in hand (a status report) is still handed over.
	ctx, cancel := context.WithCancel(context.Background())
	err := s.peer.Run(stopCtx, func(b []byte) error { return s.handle(ctx, b) })
	cancel()

	var ce *closeError
	switch {
	case errors.As(err, &ce):
	case s.ended() != nil:
		ce = s.ended()
	case errors.Is(err, wsconn.ErrWriteFailed):
		ce = &closeError{code: codeSendFailed, reason: err.Error()}
	}
	reason := "disconnected"
	if ce != nil {
		reason = ce.code
		s.log.Warn("session closed by the hub", "code", ce.code, "reason", ce.reason)
	} else {
		s.log.Info("session ended", "err", err)
	}
	h.metrics.refused.WithLabelValues(reason).Inc()
	if s.hello {
		<-s.syncDone
		if h.unregister(s) {
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := h.store.ClusterDisconnected(dctx, cluster.ID, s.id, time.Now()); err != nil {
				s.log.Warn("record disconnect", "err", err)
			}
			dcancel()
		}
	}
}

// Codes of the sessions that the hub ends because a message could not go out.
const (
	codeSendTimeout = "send_timeout"
	codeSendFailed  = "send_failed"
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
	s.hub.metrics.messages.WithLabelValues(string(m.Kind), "out").Inc()
	return nil
}

// end closes the session for a reason Serve logs; the first reason wins.
func (s *session) end(code, reason string) {
	s.endMu.Lock()
	if s.endErr == nil {
		s.endErr = &closeError{code: code, reason: reason}
	}
	s.endMu.Unlock()
	s.peer.Close(1011, code)
}

// ended is the reason given to end, or nil.
func (s *session) ended() *closeError {
	s.endMu.Lock()
	defer s.endMu.Unlock()
	return s.endErr
}

// sendOrEnd sends m and, if it cannot, ends the session: the agent
// reconnects and resyncs from what it has applied. It reports whether m was
// sent.
func (s *session) sendOrEnd(ctx context.Context, m *protocol.Message) bool {
	return s.endFor(ctx, m.Kind, s.send(ctx, m))
}

// endFor ends the session if err (of sending a message of kind) is not nil,
// and reports whether it was nil.
func (s *session) endFor(ctx context.Context, kind protocol.Kind, err error) bool {
	if err == nil {
		return true
	}
	switch {
	case errors.Is(err, wsconn.ErrClosed):
		// The session is already ending, for a reason logged elsewhere.
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		s.end(codeSendTimeout, fmt.Sprintf("%s: no room in the agent's queue for %s; the agent reads too slowly", kind, s.hub.opts.SendTimeout))
	case ctx.Err() != nil:
		// The session's context ended: the session is over.
	default:
		s.end(codeSendFailed, err.Error())
	}
	return false
}

// handle processes one message from the agent; an error ends the session.
func (s *session) handle(ctx context.Context, b []byte) error {
	s.lastHeard.Store(time.Now().UnixNano())
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
	s.hub.metrics.messages.WithLabelValues(string(m.Kind), "in").Inc()
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
		return s.onHello(ctx, m.Hello)
	case protocol.KindInventory:
		return s.onInventory(ctx, m.Inventory)
	case protocol.KindStatus:
		return s.onStatus(ctx, m.Status)
	case protocol.KindHeartbeat:
		return nil
	case protocol.KindError:
		return &closeError{code: "agent_error", reason: m.Error.Error()}
	default:
		return s.refuse(protocol.ErrCodeUnexpected, "agents do not send %s", m.Kind)
	}
}

func (s *session) onHello(ctx context.Context, hello *protocol.Hello) error {
	if !protocol.Serves(hello.ProtocolVersion) {
		return s.refuse(protocol.ErrCodeProtocol, "hub speaks protocol %d and serves agents of %d and later, agent %d: upgrade the agent",
			protocol.Version, protocol.MinVersion, hello.ProtocolVersion)
	}
	h := s.hub
	head, err := h.store.Revision(ctx)
	if err != nil {
		return err
	}
	after := hello.AppliedRevision
	if after > head {
		// The agent has seen revisions this database never wrote (it was
		// replaced): start it over from the full state.
		after = 0
	}
	if err := h.store.ClusterConnected(ctx, s.cluster.ID, s.id, hello.AgentVersion, time.Now()); err != nil {
		return err
	}
	// The resync answers with everything committed up to head: a write
	// whose wake-up the tail loop has not yet read is read now, not left
	// to a later push.
	h.catchUp(ctx, head)
	old, ok := h.register(s)
	if !ok {
		// Stop began after this session was admitted: it ends like the
		// sessions Stop closed.
		if err := h.store.ClusterDisconnected(ctx, s.cluster.ID, s.id, time.Now()); err != nil {
			s.log.Warn("record disconnect", "err", err)
		}
		s.shutdown(ctx, s.hub.opts.ComeBack+mrand.N(s.hub.comeBackWindow(1)))
		return &closeError{code: protocol.ErrCodeShutdown, reason: "hello during the hub's shutdown"}
	}
	s.hello = true
	if old != nil {
		old.replaced()
	}
	s.log.Info("agent connected", "agent_version", hello.AgentVersion, "protocol", hello.ProtocolVersion, "applied_revision", hello.AppliedRevision)
	if !s.sendOrEnd(ctx, &protocol.Message{Kind: protocol.KindWelcome, Welcome: &protocol.Welcome{
		ProtocolVersion: protocol.Version,
		HeartbeatMillis: h.opts.Heartbeat.Milliseconds(),
		Revision:        head,
	}}) {
		close(s.syncDone)
		return nil // the peer is closed; Run returns with the reason
	}
	go s.syncLoop(ctx, after)
	return nil
}

// syncLoop sends desired state: first everything after the agent's revision,
// then whatever the hub wakes it for. sent is the revision the agent has
// been sent up to; it advances only when a message was handed to the
// writer. A message that cannot be ends the session.
func (s *session) syncLoop(ctx context.Context, sent uint64) {
	defer close(s.syncDone)
	first := true
	for {
		for {
			items, upTo, err := s.hub.itemsFor(ctx, s.cluster.ID, sent)
			if err != nil {
				if ctx.Err() == nil {
					s.end("desired_read_failed", "hub could not read desired state: "+err.Error())
				}
				return
			}
			if len(items) == 0 && upTo <= sent && !first {
				break
			}
			items, upTo, err = s.sendDesired(ctx, items, upTo, first)
			if !s.endFor(ctx, protocol.KindDesired, err) {
				return
			}
			sent, first = upTo, false
			if len(items) == 0 {
				break
			}
		}
		select {
		case <-s.wake:
		case <-s.peer.Done():
			return
		}
	}
}

// sendDesired sends items and upTo in one Desired message. A message over
// the protocol's size limit is sent as the longest prefix of items that
// fits (halving), with upTo the last of them; it returns what it sent. An
// item that alone exceeds the limit cannot reach the agent: it is logged as
// an error and the agent is moved past its revision, so that the items after
// it still flow.
func (s *session) sendDesired(ctx context.Context, items []store.DesiredItem, upTo uint64, resync bool) ([]store.DesiredItem, uint64, error) {
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
		err := s.send(ctx, &protocol.Message{Kind: protocol.KindDesired, Desired: msg})
		if !errors.Is(err, protocol.ErrTooLarge) {
			return items, upTo, err
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

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) replaced() {
	s.sayAndClose(context.Background(), 4001, "replaced by a newer session", &protocol.Error{
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

func (s *session) onInventory(ctx context.Context, inv *protocol.Inventory) error {
	valid, removed := s.validNodes(inv)
	nodes := make([]store.Node, len(valid))
	for i, n := range valid {
		nodes[i] = store.Node{
			Name: n.Name, OperatingSystem: n.OperatingSystem, OSImage: n.OSImage, KernelVersion: n.KernelVersion,
			IP: n.IP, CPU: n.CPU, Memory: n.Memory, Disk: n.Disk, GPUCount: n.GPUCount, GPUMemory: n.GPUMemory, Ready: n.Ready,
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	if inv.Full {
		err = s.hub.store.ReplaceNodes(qctx, s.cluster.ID, nodes)
	} else {
		err = s.hub.store.UpdateNodes(qctx, s.cluster.ID, nodes, removed)
	}
	if err != nil {
		s.log.Warn("record inventory", "err", err)
		return err
	}
	return nil
}

func (s *session) onStatus(ctx context.Context, st *protocol.Status) error {
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
	select {
	case s.hub.statuses <- batch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
