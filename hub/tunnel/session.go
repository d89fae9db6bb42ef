package tunnel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	}

	wake      chan struct{} // cap 1: something to send
	lastHeard atomic.Int64  // unix nanos of the last message
	hello     bool          // Hello received (reader goroutine only)
	syncDone  chan struct{}
}

// closeError is the error with which the hub ends a session deliberately.
type closeError struct {
	code   string
	reason string
}

func (e *closeError) Error() string { return e.code + ": " + e.reason }

// Serve runs the session of an authenticated cluster on conn until it ends.
func (h *Hub) Serve(conn wsconn.Conn, cluster *store.Cluster) {
	if h.stopping.Load() {
		_ = conn.Close()
		return
	}
	h.serving.Add(1)
	defer h.serving.Done()
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	s := &session{
		hub: h, id: hex.EncodeToString(idb[:]), cluster: cluster,
		log:  h.log.With("cluster", cluster.Name, "session", hex.EncodeToString(idb[:])),
		wake: make(chan struct{}, 1), syncDone: make(chan struct{}),
	}
	s.lastHeard.Store(time.Now().UnixNano())
	s.peer = wsconn.New(conn, wsconn.Options{
		ReadTimeout:  3 * h.opts.Heartbeat,
		PingEvery:    h.opts.Heartbeat / 2,
		WriteTimeout: 10 * time.Second,
		MaxMessage:   protocol.MaxMessageSize,
		QueueLen:     16,
	})
	ctx, cancel := context.WithCancel(context.Background())
	err := s.peer.Run(ctx, func(b []byte) error { return s.handle(ctx, b) })
	cancel()

	var ce *closeError
	reason := "disconnected"
	if errors.As(err, &ce) {
		reason = ce.code
		s.log.Warn("session closed by the hub", "reason", ce.reason)
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

// refuse sends an Error to the agent and ends the session.
func (s *session) refuse(code, format string, args ...any) error {
	e := &closeError{code: code, reason: fmt.Sprintf(format, args...)}
	s.send(context.Background(), &protocol.Message{Kind: protocol.KindError, Error: &protocol.Error{Code: code, Message: e.reason}})
	s.peer.Close(4000, code)
	return e
}

func (s *session) send(ctx context.Context, m *protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		s.log.Warn("encode message", "kind", m.Kind, "err", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if s.peer.Send(sctx, b) == nil {
		s.hub.metrics.messages.WithLabelValues(string(m.Kind), "out").Inc()
	}
}

// handle processes one message from the agent; an error ends the session.
func (s *session) handle(ctx context.Context, b []byte) error {
	s.lastHeard.Store(time.Now().UnixNano())
	m, err := protocol.Decode(b)
	if err != nil {
		if errors.Is(err, protocol.ErrUnknownKind) {
			return s.refuse(protocol.ErrCodeUnsupported, "%v", err)
		}
		return s.refuse(protocol.ErrCodeBadMessage, "%v", err)
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
	if hello.ProtocolVersion != protocol.Version {
		return s.refuse(protocol.ErrCodeProtocol, "hub speaks protocol %d, agent %d", protocol.Version, hello.ProtocolVersion)
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
	s.hello = true
	if old := h.register(s); old != nil {
		old.replaced()
	}
	s.log.Info("agent connected", "agent_version", hello.AgentVersion, "applied_revision", hello.AppliedRevision)
	s.send(ctx, &protocol.Message{Kind: protocol.KindWelcome, Welcome: &protocol.Welcome{
		ProtocolVersion: protocol.Version,
		HeartbeatMillis: h.opts.Heartbeat.Milliseconds(),
		Revision:        head,
	}})
	go s.syncLoop(ctx, after)
	return nil
}

// syncLoop sends desired state: first everything after the agent's revision,
// then whatever the hub wakes it for.
func (s *session) syncLoop(ctx context.Context, sent uint64) {
	defer close(s.syncDone)
	first := true
	for {
		for {
			items, upTo, err := s.hub.itemsFor(ctx, s.cluster.ID, sent)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("read desired state", "err", err)
					s.peer.Close(1011, "hub could not read desired state")
				}
				return
			}
			if len(items) == 0 && upTo <= sent && !first {
				break
			}
			msg := &protocol.Desired{Items: make([]protocol.Item, len(items)), UpTo: upTo, Resync: first}
			for i, it := range items {
				msg.Items[i] = protocol.Item{
					ItemKey:  protocol.ItemKey{Kind: protocol.ItemKind(it.Kind), Name: it.Name},
					Revision: it.Revision, Deleted: it.Deleted,
				}
				if len(it.Spec) > 0 {
					msg.Items[i].Spec = it.Spec
				}
			}
			s.send(ctx, &protocol.Message{Kind: protocol.KindDesired, Desired: msg})
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

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) replaced() {
	s.send(context.Background(), &protocol.Message{Kind: protocol.KindError, Error: &protocol.Error{
		Code: protocol.ErrCodeReplaced, Message: "a newer session of this cluster replaced this one",
	}})
	s.peer.Close(4001, "replaced by a newer session")
}

func (s *session) shutdown() {
	s.send(context.Background(), &protocol.Message{Kind: protocol.KindError, Error: &protocol.Error{
		Code: protocol.ErrCodeShutdown, Message: "hub is shutting down",
	}})
	s.peer.Close(1001, "hub shutting down")
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
