package tunnel

import (
	"bytes"
	"context"
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
}

func startTestHub(t *testing.T, opts Options) *testHub {
	t.Helper()
	st := storetest.Open(t, sqlstore.SQLite)
	ctx := context.Background()
	cl, err := st.JoinCluster(ctx, "edge-1", []byte("digest-of-a-credential-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	h, err := New(st, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			if err := tc.SetWriteBuffer(4096); err != nil {
				t.Errorf("socket write buffer: %v", err)
			}
		}
		h.Serve(c, cl)
	}))
	// Stop before the server closes: Close waits for the handlers, which
	// return when their sessions end.
	t.Cleanup(srv.Close)
	t.Cleanup(h.Stop)
	return &testHub{t: t, hub: h, store: st, logs: logs, url: "ws" + strings.TrimPrefix(srv.URL, "http"), cluster: cl}
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

// A Desired message that cannot be handed to a stalled agent in time is not
// lost: the hub closes the session, and the agent, reconnecting with the
// revision it has applied, receives it in the resync.
func TestLostSendIsHealed(t *testing.T) {
	const sendTimeout = 100 * time.Millisecond
	th := startTestHub(t, Options{
		Heartbeat: 10 * time.Second, PollEvery: 50 * time.Millisecond, Batch: 1,
		WriteTimeout: time.Minute, SendTimeout: sendTimeout,
	})
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
	// The fault: a stall much longer than the send timeout, much shorter
	// than the write timeout (the hub's socket write itself does not fail).
	time.Sleep(20 * sendTimeout)

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
	if !strings.Contains(th.logs.String(), "send_timeout") {
		t.Errorf("the hub did not log why it closed the session; hub log:\n%s", th.logs.String())
	}
}
