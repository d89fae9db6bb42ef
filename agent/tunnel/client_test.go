package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/pkg/backoff"
	"github.com/ote-stack/ote/protocol"
)

// fakeHub is a scripted hub at the seam of the protocol: it joins, accepts
// tunnels and records what agents send. The real hub is exercised by the
// end-to-end tests.
type fakeHub struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	joins    int
	dials    int
	hellos   []protocol.Hello
	statuses []protocol.ItemStatus
	invs     []protocol.Inventory
	refuse   bool
	pongs    int  // pongs the agent answered to the test's pings
	beats    int  // heartbeats received
	deaf     int  // sessions, first ones, whose statuses are lost (counted in dropped)
	replaced bool // the hub's database was replaced: resync everything, whatever the hello says
	dropped  int
	conns    chan *websocket.Conn
	desired  []protocol.Item // sent as the resync
	version  int             // the protocol version the hub speaks; 0: protocol.Version
}

func newFakeHub(t *testing.T) *fakeHub { return newFakeHubWith(t, false) }

// newFakeHubWith serves HTTPS with httptest's certificate when useTLS.
func newFakeHubWith(t *testing.T, useTLS bool) *fakeHub {
	h := &fakeHub{t: t, conns: make(chan *websocket.Conn, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.ChartsPath+"/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer otec_cred" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte("chart " + strings.TrimPrefix(r.URL.Path, protocol.ChartsPath+"/")))
	})
	mux.HandleFunc(protocol.JoinPath, func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.joins++
		h.mu.Unlock()
		if r.Header.Get(protocol.HeaderBootstrapToken) != "boot" {
			w.WriteHeader(401)
			w.Write([]byte(`{"code":401,"message":"wrong bootstrap token"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": protocol.JoinResponse{ClusterName: "edge-1", Credential: "otec_cred"}})
	})
	up := websocket.Upgrader{}
	mux.HandleFunc(protocol.TunnelPath, func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.dials++
		refuse := h.refuse
		h.mu.Unlock()
		if refuse || r.Header.Get("Authorization") != "Bearer otec_cred" || r.Header.Get(protocol.HeaderCluster) != "edge-1" {
			w.WriteHeader(401)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.serve(c)
	})
	h.srv = httptest.NewUnstartedServer(mux)
	if useTLS {
		h.srv.StartTLS()
	} else {
		h.srv.Start()
	}
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) serve(c *websocket.Conn) {
	defer c.Close()
	read := func() *protocol.Message {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			return nil
		}
		m, err := protocol.Decode(b)
		if err != nil {
			h.t.Errorf("agent sent a bad message: %v", err)
			return nil
		}
		if m.Cluster != "edge-1" {
			h.t.Errorf("agent's message names cluster %q", m.Cluster)
		}
		return m
	}
	write := func(m *protocol.Message) {
		b, _ := protocol.Encode(m)
		c.WriteMessage(websocket.TextMessage, b)
	}
	hello := read()
	if hello == nil || hello.Kind != protocol.KindHello {
		return
	}
	h.mu.Lock()
	h.hellos = append(h.hellos, *hello.Hello)
	items := append([]protocol.Item(nil), h.desired...)
	replaced := h.replaced
	version := h.version
	h.mu.Unlock()
	if version == 0 {
		version = protocol.Version
	}
	write(&protocol.Message{Kind: protocol.KindWelcome, Welcome: &protocol.Welcome{ProtocolVersion: version, HeartbeatMillis: 200}})
	upTo := hello.Hello.AppliedRevision
	if replaced {
		upTo = 0
	}
	var send []protocol.Item
	for _, it := range items {
		if it.Revision > upTo {
			send = append(send, it)
			upTo = it.Revision
		}
	}
	write(&protocol.Message{Kind: protocol.KindDesired, Desired: &protocol.Desired{Items: send, UpTo: upTo, Resync: true}})
	c.SetPongHandler(func(string) error {
		h.mu.Lock()
		h.pongs++
		h.mu.Unlock()
		return nil
	})
	h.conns <- c
	for {
		m := read()
		if m == nil {
			return
		}
		h.mu.Lock()
		switch m.Kind {
		case protocol.KindStatus:
			if len(h.hellos) <= h.deaf {
				h.dropped += len(m.Status.Items)
				break
			}
			h.statuses = append(h.statuses, m.Status.Items...)
		case protocol.KindInventory:
			h.invs = append(h.invs, *m.Inventory)
		case protocol.KindHeartbeat:
			h.beats++
		}
		h.mu.Unlock()
	}
}

func (h *fakeHub) snapshot() (joins, dials int, hellos []protocol.Hello, statuses []protocol.ItemStatus, invs []protocol.Inventory) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.joins, h.dials, append([]protocol.Hello(nil), h.hellos...), append([]protocol.ItemStatus(nil), h.statuses...), append([]protocol.Inventory(nil), h.invs...)
}

type memCreds struct {
	mu   sync.Mutex
	cred string
}

func (m *memCreds) Load(context.Context, string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cred, nil
}
func (m *memCreds) Save(_ context.Context, _, c string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cred = c
	return nil
}

type fakeInventory struct{}

func (fakeInventory) Snapshot() []protocol.Node {
	return []protocol.Node{{Name: "n1", CPU: 2, Ready: true}}
}
func (fakeInventory) Delta() ([]protocol.Node, []string) { return nil, nil }
func (fakeInventory) Changed() <-chan struct{}           { return nil }

// flakyApplier fails the first attempt of every item named "flaky".
type flakyApplier struct {
	mu       sync.Mutex
	attempts map[string]int
}

func (a *flakyApplier) Apply(_ context.Context, it protocol.Item) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[it.Name]++
	if it.Name == "flaky" && a.attempts[it.Name] == 1 {
		return errors.New("api server said no")
	}
	return nil
}

func newClient(t *testing.T, h *fakeHub, creds *memCreds, token string) (*Client, *flakyApplier) {
	t.Helper()
	return newClientTLS(t, h, creds, token, nil)
}

func newClientTLS(t *testing.T, h *fakeHub, creds *memCreds, token string, tlsCfg *tls.Config) (*Client, *flakyApplier) {
	t.Helper()
	ap := &flakyApplier{attempts: map[string]int{}}
	c, err := New(Config{
		HubURL: h.srv.URL, ClusterName: "edge-1", BootstrapToken: token, Credentials: creds, TLS: tlsCfg,
		Inventory: fakeInventory{}, Applier: ap, Backoff: backoff.New(20*time.Millisecond, 200*time.Millisecond),
		RetryFailedEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, ap
}

func run(t *testing.T, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nsItem(name string, rev uint64) protocol.Item {
	return protocol.Item{ItemKey: protocol.ItemKey{Kind: protocol.ItemNamespace, Name: name}, Revision: rev}
}

func TestJoinSyncAndResumeFromRevision(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("ns1", 1), nsItem("ns2", 2)}
	creds := &memCreds{}
	c, _ := newClient(t, h, creds, "boot")
	run(t, c)

	eventually(t, "statuses of the resync", func() bool { _, _, _, st, _ := h.snapshot(); return len(st) == 2 })
	joins, _, hellos, st, invs := h.snapshot()
	if joins != 1 || creds.cred != "otec_cred" || hellos[0].AppliedRevision != 0 || hellos[0].ProtocolVersion != protocol.Version {
		t.Fatalf("joins %d cred %q hello %+v", joins, creds.cred, hellos[0])
	}
	// Items of different keys apply at once: their statuses come in
	// either order.
	for name, rev := range map[string]uint64{"ns1": 1, "ns2": 2} {
		if s, ok, _ := h.latestStatus(name); !ok || s.State != protocol.StateApplied || s.Revision != rev {
			t.Fatalf("statuses %+v", st)
		}
	}
	if len(invs) == 0 || !invs[0].Full || invs[0].Nodes[0].Name != "n1" {
		t.Fatalf("inventory %+v", invs)
	}
	eventually(t, "resync counted", func() bool { return c.Resyncs() == 1 && c.AppliedRevision() == 2 })

	// The hub drops the connection; the agent comes back from revision 2
	// with its kept credential, and gets only what is newer.
	h.mu.Lock()
	h.desired = append(h.desired, nsItem("ns3", 3))
	h.mu.Unlock()
	(<-h.conns).Close()
	eventually(t, "second session", func() bool { _, _, hs, _, _ := h.snapshot(); return len(hs) == 2 })
	// The second session may repeat the statuses of the first one's last
	// moments (the cut may have lost them), then reports ns3.
	eventually(t, "ns3 applied", func() bool { st, ok, _ := h.latestStatus("ns3"); return ok && st.Revision == 3 })
	joins, _, hellos, st, _ = h.snapshot()
	if joins != 1 || hellos[1].AppliedRevision != 2 {
		t.Fatalf("after reconnect: joins %d hello %+v", joins, hellos[1])
	}
	for _, s := range st[2:] {
		if s.State != protocol.StateApplied || (s.Name != "ns3" && s.Revision > 2) {
			t.Fatalf("after reconnect: statuses %+v", st)
		}
	}
}

func TestFailedItemsAreRetried(t *testing.T) {
	h := newFakeHub(t)
	h.desired = []protocol.Item{nsItem("flaky", 1)}
	c, ap := newClient(t, h, &memCreds{cred: "otec_cred"}, "")
	run(t, c)
	eventually(t, "failed then applied", func() bool {
		_, _, _, st, _ := h.snapshot()
		return len(st) >= 2 && st[0].State == protocol.StateFailed && st[len(st)-1].State == protocol.StateApplied
	})
	_, _, _, st, _ := h.snapshot()
	if st[0].Message != "api server said no" {
		t.Fatalf("failure message %q", st[0].Message)
	}
	// No retry can follow: retries take only failed items, and flaky's
	// slot is applied, with nothing pending or running.
	eventually(t, "flaky's slot settled as applied", func() bool {
		c.queue.mu.Lock()
		defer c.queue.mu.Unlock()
		for k, s := range c.queue.slots {
			if k.Name == "flaky" {
				return !s.failed && s.pending == nil && !s.running
			}
		}
		return false
	})
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.attempts["flaky"] != 2 {
		t.Fatalf("applied %d times; once it succeeded it should not be retried", ap.attempts["flaky"])
	}
}

func TestRefusalsBackOff(t *testing.T) {
	h := newFakeHub(t)
	h.refuse = true
	c, _ := newClient(t, h, &memCreds{cred: "otec_cred"}, "")
	start := time.Now()
	run(t, c)
	eventually(t, "six dials", func() bool { _, dials, _, _, _ := h.snapshot(); return dials >= 6 })
	// 20ms doubling to 200ms, each delay at least half its base: the five
	// waits between six dials take 10+20+40+80+100 ms at the least.
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("six refused dials in %v: no backoff", took)
	}
	if c.Connected() {
		t.Fatal("connected though refused")
	}
}

func TestWrongBootstrapTokenIsNotSaved(t *testing.T) {
	h := newFakeHub(t)
	creds := &memCreds{}
	c, _ := newClient(t, h, creds, "wrong")
	run(t, c)
	eventually(t, "join attempts", func() bool { j, _, _, _, _ := h.snapshot(); return j >= 2 })
	if creds.cred != "" {
		t.Fatal("a refused join stored a credential")
	}
}

// TestTLSToTheHub: one TLS configuration (the --hub-ca pool) serves the
// join, the websocket (wss) and the downloads; without it the hub's
// certificate is refused and nothing is joined.
func TestTLSToTheHub(t *testing.T) {
	h := newFakeHubWith(t, true)
	if !strings.HasPrefix(h.srv.URL, "https://") {
		t.Fatalf("fake hub at %s", h.srv.URL)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.srv.Certificate())

	untrusting := &memCreds{}
	c, _ := newClientTLS(t, h, untrusting, "boot", nil)
	if _, err := c.credential(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("join without the CA: %v", err)
	}
	if joins, _, _, _, _ := h.snapshot(); joins != 0 || untrusting.cred != "" {
		t.Fatalf("an agent that does not trust the hub reached it: %d joins", joins)
	}

	creds := &memCreds{}
	c, _ = newClientTLS(t, h, creds, "boot", &tls.Config{RootCAs: pool})
	if got := c.tunnelURL(); !strings.HasPrefix(got, "wss://") {
		t.Fatalf("tunnel URL %s", got)
	}
	h.desired = []protocol.Item{nsItem("ns1", 1)}
	run(t, c)
	eventually(t, "the resync over wss", func() bool { _, _, _, st, _ := h.snapshot(); return len(st) == 1 })
	chart, err := c.FetchChart(context.Background(), "sha256:abc")
	if err != nil || string(chart) != "chart sha256:abc" {
		t.Fatalf("chart over TLS: %q %v", chart, err)
	}
}
