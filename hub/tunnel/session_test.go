package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

// logBuffer is a log sink safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testHub is a tunnel hub on a real SQLite store, serving real websockets
// on a real listener whose sockets have small kernel buffers, so that a peer
// that stops reading stalls the hub's writes after a few kilobytes.
type testHub struct {
	t       *testing.T
	hub     *Hub
	store   *sqlstore.Store
	logs    *logBuffer
	url     string
	cluster *store.Cluster
	// serve, when set before the first dial, replaces the handler's call
	// of Serve.
	serve func(h *Hub, c *websocket.Conn, cl *store.Cluster)
	small bool // 4 KiB socket buffers
}

// startTestHub starts a hub; with small, its sockets and those of the test
// agents have 4 KiB kernel buffers.
func startTestHub(t *testing.T, opts Options, small bool) *testHub {
	t.Helper()
	return startTestHubWith(t, opts, small, nil)
}

// startTestHubWith is startTestHub with the hub's store wrapped by wrap
// (when not nil), to slow or fail parts of it.
func startTestHubWith(t *testing.T, opts Options, small bool, wrap func(store.Store) store.Store) *testHub {
	t.Helper()
	st := storetest.Open(t, sqlstore.SQLite)
	ctx := context.Background()
	cl, err := st.JoinCluster(ctx, "edge-1", []byte("digest-of-a-credential-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	var hubStore store.Store = st
	if wrap != nil {
		hubStore = wrap(st)
	}
	h, err := New(hubStore, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var th *testHub
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok && small {
			if err := tc.SetWriteBuffer(4096); err != nil {
				t.Errorf("socket write buffer: %v", err)
			}
		}
		if th.serve != nil {
			th.serve(h, c, cl)
			return
		}
		h.Serve(c, cl)
	}))
	// Stop before the server closes: Close waits for the handlers, which
	// return when their sessions end.
	t.Cleanup(srv.Close)
	t.Cleanup(h.Stop)
	th = &testHub{t: t, hub: h, store: st, logs: logs, url: "ws" + strings.TrimPrefix(srv.URL, "http"), cluster: cl, small: small}
	return th
}

// testAgent speaks the protocol by hand over a socket with a small receive
// buffer. One goroutine (the test's) reads; writes are serialised by mu.
type testAgent struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex // guards writes to conn
	// applied is the UpTo of the last Desired message read: what this
	// agent would say it has applied when it reconnects.
	applied uint64
	items   map[string]bool
}

func (th *testHub) dial(applied uint64, items map[string]bool) *testAgent {
	th.t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if !th.small {
				return c, nil
			}
			if err := c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	c, _, err := d.Dial(th.url, nil)
	if err != nil {
		th.t.Fatalf("dial: %v", err)
	}
	th.t.Cleanup(func() { c.Close() })
	a := &testAgent{t: th.t, conn: c, applied: applied, items: items}
	a.send(&protocol.Message{Kind: protocol.KindHello, Hello: &protocol.Hello{ProtocolVersion: protocol.Version, AgentVersion: "test", AppliedRevision: applied}})
	m, err := a.read(5 * time.Second)
	if err != nil || m.Kind != protocol.KindWelcome {
		th.t.Fatalf("waiting for welcome: %+v %v", m, err)
	}
	return a
}

func (a *testAgent) send(m *protocol.Message) {
	a.t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		a.t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		a.t.Fatal(err)
	}
}

func (a *testAgent) read(timeout time.Duration) (*protocol.Message, error) {
	if err := a.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	_, b, err := a.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	m, err := protocol.Decode(b)
	if err == nil && m.Kind == protocol.KindDesired {
		for _, it := range m.Desired.Items {
			a.items[it.ItemKey.String()] = true
		}
		a.applied = m.Desired.UpTo
	}
	return m, err
}

// A Desired message that cannot reach a stalled agent in time is not lost:
// its write to the socket times out, the hub closes the session, and the
// agent, reconnecting with the revision it has applied, receives it in the
// resync. (The session's writer writes desired state itself: it never waits
// for room in a queue.)
func TestLostSendIsHealed(t *testing.T) {
	testLostSend(t, 200*time.Millisecond, time.Minute, codeSendTimeout)
}

func testLostSend(t *testing.T, writeTimeout, sendTimeout time.Duration, code string) {
	th := startTestHub(t, Options{
		Heartbeat: 10 * time.Second, PollEvery: 50 * time.Millisecond, Batch: 1,
		WriteTimeout: writeTimeout, SendTimeout: sendTimeout,
	}, true)
	ctx := context.Background()
	const n = 600
	var names []string
	nodes := make([]store.Node, n)
	for i := range nodes {
		nodes[i].Name = fmt.Sprintf("node-%03d-with-a-name-long-enough-to-fill-the-socket-buffers-soon", i)
		names = append(names, nodes[i].Name)
	}
	if err := th.store.ReplaceNodes(ctx, th.cluster.ID, nodes); err != nil {
		t.Fatal(err)
	}

	items := map[string]bool{}
	a := th.dial(0, items)
	if m, err := a.read(5 * time.Second); err != nil || m.Kind != protocol.KindDesired || !m.Desired.Resync {
		t.Fatalf("waiting for the resync: %+v %v", m, err)
	}
	firstApplied := a.applied
	defer func() {
		if a.applied <= firstApplied {
			t.Errorf("applied revision %d did not advance past %d", a.applied, firstApplied)
		}
	}()

	// The agent stops reading; meanwhile n items are written, one per
	// message: more than the sockets and the session's queue hold.
	if err := th.store.AddNodeLabel(ctx, "edge-1", names, "lost-send"); err != nil {
		t.Fatal(err)
	}
	th.hub.Notify()
	// The fault: the agent reads nothing until the hub gives up on it
	// (the positive signal, rather than a stall of a guessed length): the
	// write timeout is logged as the session closes.
	waitUntil(t, 20*time.Second, "the hub ending the stalled session with "+code, func() bool {
		return strings.Contains(th.logs.String(), "code="+code)
	})

	// The agent reads again, and reconnects with what it has applied each
	// time the hub closes its session, until it has every item.
	want := func() []string {
		var missing []string
		for _, nm := range names {
			if !items["nodelabel/"+nm+"/lost-send"] {
				missing = append(missing, nm)
			}
		}
		return missing
	}
	reconnects := 0
	deadline := time.Now().Add(20 * time.Second)
	for len(want()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d reconnects, %d of %d items never arrived (first: %s); hub log:\n%s",
				reconnects, len(want()), n, want()[0], th.logs.String())
		}
		if _, err := a.read(time.Until(deadline)); err != nil {
			if reconnects++; reconnects > 50 {
				t.Fatalf("%d reconnects; last: %v", reconnects, err)
			}
			a = th.dial(a.applied, items)
		}
	}
	t.Logf("healed after %d reconnects", reconnects)
	if reconnects == 0 {
		t.Fatalf("every item arrived without a reconnect: the stall did not overflow the queue; hub log:\n%s", th.logs.String())
	}
	if !strings.Contains(th.logs.String(), "code="+code) {
		t.Errorf("the hub did not log why it closed the session; hub log:\n%s", th.logs.String())
	}
}

// waitUntil polls cond until it holds or d has passed.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop does not hold the sessions lock while it tells a stalled agent (its
// queue full) that the hub stops: the hub answers meanwhile, and Stop ends
// once the agent's connection does.
func TestStopWithAStalledSession(t *testing.T) {
	th := startTestHub(t, Options{Heartbeat: 10 * time.Second, WriteTimeout: time.Minute, SendTimeout: 30 * time.Second}, true)
	a := th.dial(0, map[string]bool{})
	if _, err := a.read(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	h := th.hub
	waitUntil(t, 5*time.Second, "the session", func() bool { return h.Connected(th.cluster.ID) })
	h.mu.Lock()
	s := h.sessions[th.cluster.ID]
	h.mu.Unlock()
	// The agent does not read: fill the sockets and then the queue.
	big := []byte(`{"kind":"heartbeat","heartbeat":{},"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.peer.Send(ctx, big)
		cancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's queue never filled")
		}
	}

	stopped := make(chan struct{})
	go func() { defer close(stopped); h.Stop() }()
	// Stop is now waiting for room in the stalled queue (up to 30 s); the
	// sessions lock is free all the while.
	answered := make(chan bool)
	go func() {
		waitUntil(t, 5*time.Second, "stop to begin", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.stopping
		})
		answered <- h.Connected(th.cluster.ID)
	}()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("Connected blocked while Stop was telling a stalled session")
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned while the stalled session's write was still pending")
	default:
	}
	// The agent goes away: its connection ends, and so does Stop.
	a.conn.Close()
	select {
	case <-stopped:
	case <-time.After(45 * time.Second):
		t.Fatal("Stop did not return after the stalled agent went away")
	}
	if h.Connected(th.cluster.ID) {
		t.Fatal("a session is still registered after Stop")
	}
}

// Serve calls racing Stop: each is either admitted, and then Stop waits for
// it, or refused at once with its connection closed. Run with -race.
func TestStopRacesServe(t *testing.T) {
	th := startTestHub(t, Options{Heartbeat: 10 * time.Second, SendTimeout: time.Second}, false)
	var mu sync.Mutex
	inFlight, registeredAfterStop := 0, 0
	stopDone := make(chan struct{})
	th.serve = func(h *Hub, c *websocket.Conn, cl *store.Cluster) {
		mu.Lock()
		inFlight++
		mu.Unlock()
		h.Serve(c, cl)
		mu.Lock()
		inFlight--
		select {
		case <-stopDone:
			// Serve returned after Stop did: it must have been refused,
			// which Stop does not wait for, and nothing it admitted may
			// outlive Stop.
			if h.Connected(cl.ID) {
				registeredAfterStop++
			}
		default:
		}
		mu.Unlock()
	}
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	hello, err := protocol.Encode(&protocol.Message{Kind: protocol.KindHello, Hello: &protocol.Hello{ProtocolVersion: protocol.Version, AgentVersion: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Agents of one cluster dial, say hello and read until their session
	// ends (replaced by another's, or stopped), and dial again, until the
	// test ends: Serve calls arrive before, during and after Stop.
	var agents sync.WaitGroup
	for range 8 {
		agents.Add(1)
		go func() {
			defer agents.Done()
			for ctx.Err() == nil {
				c, _, err := dialer.DialContext(ctx, th.url, nil)
				if err != nil {
					continue
				}
				if c.WriteMessage(websocket.TextMessage, hello) == nil {
					for c.SetReadDeadline(time.Now().Add(20*time.Second)) == nil {
						if _, _, err := c.ReadMessage(); err != nil {
							break
						}
					}
				}
				c.Close()
			}
		}()
	}
	t.Cleanup(func() { cancel(); agents.Wait() })
	waitUntil(t, 10*time.Second, "a session", func() bool { return th.hub.Connected(th.cluster.ID) })

	var stops sync.WaitGroup
	for range 2 {
		stops.Add(1)
		go func() { defer stops.Done(); th.hub.Stop() }()
	}
	stops.Wait()
	close(stopDone)
	if th.hub.Connected(th.cluster.ID) {
		t.Fatal("a session is registered after Stop returned")
	}
	// A Serve after Stop is refused: the agent's connection is closed,
	// going away, without a welcome.
	c, _, err := dialer.Dial(th.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, hello); err == nil {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case err == nil:
			t.Fatalf("a session served after Stop: %s", b)
		case errors.As(err, &ce):
			if ce.Code != websocket.CloseGoingAway {
				t.Fatalf("refused with %v, want going away", ce)
			}
		default:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the hub neither served nor closed a connection made after Stop")
			}
		}
	}
	cancel()
	agents.Wait()
	waitUntil(t, 10*time.Second, "every Serve call to return", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if registeredAfterStop > 0 {
		t.Fatalf("%d sessions were registered after Stop returned", registeredAfterStop)
	}
}

// A batch over the protocol's message limit goes out as prefixes that fit,
// each with the UpTo of its last item; an item that alone exceeds the limit
// is logged and skipped, and the items after it still flow.
func TestOversizedDesiredIsSplit(t *testing.T) {
	th := startTestHub(t, Options{Heartbeat: 10 * time.Second}, false)
	a := th.dial(0, map[string]bool{})
	if _, err := a.read(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	h := th.hub
	waitUntil(t, 5*time.Second, "the session", func() bool { return h.Connected(th.cluster.ID) })
	h.mu.Lock()
	s := h.sessions[th.cluster.ID]
	h.mu.Unlock()
	spec := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n) + `"`) }
	item := func(rev uint64, n int) store.DesiredItem {
		return store.DesiredItem{ClusterID: th.cluster.ID, Kind: store.ItemWorkload, Name: fmt.Sprint("w", rev), Revision: rev, Spec: spec(n)}
	}
	ctx := context.Background()
	// The writer's write, through the peer's queue (the test is not the
	// writer goroutine).
	write := func(b []byte) error { return s.peer.Send(ctx, b) }
	mib := 1 << 20
	batch := []store.DesiredItem{item(101, mib+mib/2), item(102, mib+mib/2), item(103, mib+mib/2), item(104, mib+mib/2)}
	for sent := 0; sent < len(batch); {
		got, upTo, err := s.sendDesired(write, batch[sent:], 104, false)
		if err != nil {
			t.Fatal(err)
		}
		m, err := a.read(10 * time.Second)
		if err != nil || m.Kind != protocol.KindDesired {
			t.Fatalf("%+v %v", m, err)
		}
		if len(m.Desired.Items) != len(got) || len(got) == 0 || len(got) == len(batch[sent:]) && sent == 0 {
			t.Fatalf("sent %d items of %d, the agent got %d", len(got), len(batch[sent:]), len(m.Desired.Items))
		}
		if want := got[len(got)-1].Revision; upTo != want || m.Desired.UpTo != want {
			t.Fatalf("upTo %d, agent's %d, want %d", upTo, m.Desired.UpTo, want)
		}
		sent += len(got)
	}
	if len(a.items) != len(batch) {
		t.Fatalf("agent has %d items, want %d", len(a.items), len(batch))
	}

	got, upTo, err := s.sendDesired(write, []store.DesiredItem{item(200, protocol.MaxMessageSize)}, 200, false)
	if err != nil || len(got) != 0 || upTo != 200 {
		t.Fatalf("oversized item: sent %d items, upTo %d, %v", len(got), upTo, err)
	}
	if m, err := a.read(10 * time.Second); err != nil || m.Kind != protocol.KindDesired || len(m.Desired.Items) != 0 || m.Desired.UpTo != 200 {
		t.Fatalf("oversized item reached the agent as %+v %v", m, err)
	}
	if !strings.Contains(th.logs.String(), "desired item too large") {
		t.Errorf("no log line for the oversized item; hub log:\n%s", th.logs.String())
	}
}

// Stop tells each agent when to come back: after ComeBack, spread over a
// window of one second per ComeBackRate agents.
func TestStopSpreadsReconnects(t *testing.T) {
	th := startTestHub(t, Options{Heartbeat: 10 * time.Second, PollEvery: 50 * time.Millisecond,
		ComeBack: 300 * time.Millisecond, ComeBackRate: 1}, true)
	a := th.dial(0, map[string]bool{})
	if m, err := a.read(5 * time.Second); err != nil || m.Kind != protocol.KindDesired {
		t.Fatalf("resync: %+v %v", m, err)
	}
	go th.hub.Stop()
	for {
		m, err := a.read(10 * time.Second)
		if err != nil {
			t.Fatalf("no shutdown message before the close: %v", err)
		}
		if m.Kind != protocol.KindError {
			continue
		}
		// One agent at one per second: a window of a second.
		if m.Error.Code != protocol.ErrCodeShutdown || m.Error.RetryAfterMillis < 300 || m.Error.RetryAfterMillis >= 1300 {
			t.Fatalf("shutdown message %+v, want a come-back in [300ms, 1.3s)", m.Error)
		}
		return
	}
}

func TestComeBackWindow(t *testing.T) {
	h := &Hub{opts: Options{ComeBackRate: 4000}}
	for n, want := range map[int]time.Duration{0: 500 * time.Millisecond, 1000: 500 * time.Millisecond, 10_000: 2500 * time.Millisecond, 19_000: 4750 * time.Millisecond} {
		if got := h.comeBackWindow(n); got != want {
			t.Errorf("window for %d agents: %v, want %v", n, got, want)
		}
	}
}

// slowInventories is a store whose inventory writes wait until release is
// closed, saying on blocked that one does.
type slowInventories struct {
	store.Store
	blocked chan<- struct{}
	release <-chan struct{}
}

func (s *slowInventories) wait() {
	select {
	case s.blocked <- struct{}{}:
	default:
	}
	<-s.release
}

func (s *slowInventories) SaveInventories(ctx context.Context, r []store.InventoryReport) error {
	s.wait()
	return s.Store.SaveInventories(ctx, r)
}

func (s *slowInventories) ReplaceNodes(ctx context.Context, id uint64, nodes []store.Node) error {
	s.wait()
	return s.Store.ReplaceNodes(ctx, id, nodes)
}

// The session's reader never waits on the database: while an inventory
// write is stuck (SQLite behind ten thousand agents' inventories after a hub
// restart), the hub still answers the agent's pings. When the reader waited
// on the write, agents' reads timed out after three heartbeats and they
// reconnected, a resync more than test/fleet counted: the "130 of 19,000
// agents not back". The inventory is written once the database is free.
func TestPingsAnsweredWhileTheDatabaseIsSlow(t *testing.T) {
	blocked, release := make(chan struct{}, 1), make(chan struct{})
	th := startTestHubWith(t, Options{Heartbeat: 10 * time.Second}, false, func(st store.Store) store.Store {
		return &slowInventories{Store: st, blocked: blocked, release: release}
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	a := th.dial(0, map[string]bool{})
	a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: []protocol.Node{{Name: "n1", Ready: true}}}})
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub never wrote the inventory")
	}
	pong := make(chan struct{}, 1)
	a.conn.SetPongHandler(func(string) error {
		select {
		case pong <- struct{}{}:
		default:
		}
		return nil
	})
	go func() { // reads, so that the pong handler runs; ends with the connection
		for {
			if _, _, err := a.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	a.mu.Lock()
	err := a.conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(5*time.Second))
	a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-pong:
	case <-time.After(5 * time.Second):
		t.Fatal("no pong while the database was slow: the session's reader waits on it")
	}
	close(release)
	released = true
	waitUntil(t, 10*time.Second, "the inventory written", func() bool {
		nodes, _, err := th.store.ListNodes(context.Background(), store.NodeQuery{ClusterName: "edge-1"})
		return err == nil && len(nodes) == 1 && nodes[0].Name == "n1"
	})
}
