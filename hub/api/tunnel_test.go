package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"
	"runtime"

	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/hub/tunnel"
	"github.com/ote-stack/ote/protocol"
)

// join registers a cluster through POST /v1/agent/join and returns its credential.
func (h *hub) join(name string) string {
	h.t.Helper()
	r := h.joinAs(bootstrapToken, name)
	if r.Status != 200 {
		h.t.Fatalf("join %s: %d %s", name, r.Status, r.Message)
	}
	var jr protocol.JoinResponse
	r.into(h.t, &jr)
	if jr.ClusterName != name || !strings.HasPrefix(jr.Credential, "otec_") {
		h.t.Fatalf("join answer %+v", jr)
	}
	return jr.Credential
}

func (h *hub) joinAs(token, name string) *reply {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+protocol.JoinPath, strings.NewReader(fmt.Sprintf(`{"clusterName":%q}`, name)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(protocol.HeaderBootstrapToken, token)
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &reply{Status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(r)
	return r
}

// agent is a test agent speaking the protocol by hand.
type agent struct {
	t    testing.TB
	conn *websocket.Conn
	mu   sync.Mutex // guards writes to conn
}

// sendRaw writes bytes as one message, whatever they are.
func (a *agent) sendRaw(b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conn.WriteMessage(websocket.TextMessage, b)
}

// keepAlive sends heartbeats until the test ends, as a live agent does.
func (a *agent) keepAlive() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(testHeartbeat / 2)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				b, _ := protocol.Encode(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{}})
				a.mu.Lock()
				err := a.conn.WriteMessage(websocket.TextMessage, b)
				a.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	a.t.Cleanup(func() { close(stop); <-done })
}

func (h *hub) dial(cluster, credential string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	hdr.Set(protocol.HeaderCluster, cluster)
	hdr.Set("Authorization", "Bearer "+credential)
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.url, "http")+protocol.TunnelPath, hdr)
}

// connect opens a tunnel, says hello, reads the welcome and the resync, and
// keeps the session alive with heartbeats, as a live agent does.
func (h *hub) connect(cluster, credential string, applied uint64) (*agent, *protocol.Welcome, *protocol.Desired) {
	h.t.Helper()
	a, w, d := h.connectSilent(cluster, credential, applied)
	a.keepAlive()
	return a, w, d
}

// connectSilent is connect without heartbeats.
func (h *hub) connectSilent(cluster, credential string, applied uint64) (*agent, *protocol.Welcome, *protocol.Desired) {
	h.t.Helper()
	c, resp, err := h.dial(cluster, credential)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		h.t.Fatalf("dial tunnel of %s: %v (HTTP %d)", cluster, err, status)
	}
	a := &agent{t: h.t, conn: c}
	h.t.Cleanup(func() { c.Close() })
	a.send(&protocol.Message{Kind: protocol.KindHello, Hello: &protocol.Hello{ProtocolVersion: protocol.Version, AgentVersion: "test", AppliedRevision: applied}})
	w := a.expect(protocol.KindWelcome).Welcome
	d := a.expect(protocol.KindDesired).Desired
	if !d.Resync {
		h.t.Fatalf("first desired message is not the resync: %+v", d)
	}
	return a, w, d
}

func (a *agent) send(m *protocol.Message) {
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

func (a *agent) read(timeout time.Duration) (*protocol.Message, error) {
	a.conn.SetReadDeadline(time.Now().Add(timeout))
	_, b, err := a.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	return protocol.Decode(b)
}

func (a *agent) expect(kind protocol.Kind) *protocol.Message {
	a.t.Helper()
	m, err := a.read(5 * time.Second)
	if err != nil {
		a.t.Fatalf("waiting for %s: %v", kind, err)
	}
	if m.Kind != kind {
		a.t.Fatalf("got %s (%+v), want %s", m.Kind, m.Error, kind)
	}
	return m
}

// closed waits for the hub to close the session and returns the close error.
func (a *agent) closed() *websocket.CloseError {
	a.t.Helper()
	for {
		_, err := a.read(5 * time.Second)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		a.t.Fatalf("expected a close, got %v", err)
	}
}

func itemNames(items []protocol.Item) []string {
	out := []string{}
	for _, it := range items {
		s := it.ItemKey.String()
		if it.Deleted {
			s += "(deleted)"
		}
		out = append(out, s)
	}
	return out
}

func TestJoin(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		if r := h.joinAs("wrong-token", "edge-1"); r.Status != 401 || !strings.Contains(r.Message, "bootstrap token") {
			t.Fatalf("wrong token: %d %s", r.Status, r.Message)
		}
		for _, bad := range []string{"", "Edge", "edge_1", "-edge", strings.Repeat("a", 64)} {
			if r := h.joinAs(bootstrapToken, bad); r.Status != 422 || !strings.HasPrefix(r.Message, "clusterName:") {
				t.Fatalf("name %q: %d %s", bad, r.Status, r.Message)
			}
		}
		first := h.join("edge-1")
		// The agent died before keeping its credential: it may join again,
		// and the first credential stops working.
		second := h.join("edge-1")
		if _, resp, err := h.dial("edge-1", first); err == nil || resp.StatusCode != 401 {
			t.Fatalf("replaced credential still opens a tunnel: %v", err)
		}
		h.connect("edge-1", second, 0)
		// Once connected, the name is taken for good.
		if r := h.joinAs(bootstrapToken, "edge-1"); r.Status != 409 {
			t.Fatalf("stolen name: %d %s", r.Status, r.Message)
		}
		if strings.Contains(h.logs.String(), second) || strings.Contains(h.logs.String(), bootstrapToken) {
			t.Fatal("a secret appears in the hub's log")
		}
	})
}

func TestTunnelAuthentication(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	cred := h.join("edge-1")
	for name, c := range map[string][2]string{
		"no credential":    {"edge-1", ""},
		"wrong credential": {"edge-1", "otec_wrong"},
		"unknown cluster":  {"edge-9", cred},
		"another's cred":   {"", cred},
	} {
		_, resp, err := h.dial(c[0], c[1])
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("%s: %v", name, err)
		}
	}
	req, _ := http.NewRequest("GET", h.url+protocol.TunnelPath, nil)
	req.Header.Set(protocol.HeaderCluster, "edge-1")
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 426 {
		t.Fatalf("plain GET of the tunnel: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestTunnelSyncsInventoryAndDesiredState(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		c1 := h.join("edge-1")
		c2 := h.join("edge-2")
		a1, w, resync := h.connect("edge-1", c1, 0)
		if w.HeartbeatMillis != testHeartbeat.Milliseconds() || w.ProtocolVersion != protocol.Version || len(resync.Items) != 0 {
			t.Fatalf("welcome %+v resync %+v", w, resync)
		}
		a1.send(&protocol.Message{Kind: protocol.KindInventory, Cluster: "edge-1", Inventory: &protocol.Inventory{Full: true, Nodes: []protocol.Node{
			{Name: "n1", OperatingSystem: "linux", OSImage: "Ubuntu 24.04", KernelVersion: "6.8", IP: "10.0.0.1", CPU: 8, Memory: 32 << 30, Disk: 200 << 30, GPUCount: 2, GPUMemory: 2 * 16 << 30, Ready: true},
			{Name: "n2", OperatingSystem: "linux", CPU: 4, Memory: 16 << 30, Ready: false},
		}}})

		// The nodes show with their figures; the cluster is ready.
		var nodes []map[string]any
		waitFor(t, "nodes of edge-1", func() bool {
			r := h.expect(200, "GET", "/v1/node?clusterName=edge-1", root, nil)
			r.into(t, &nodes)
			return len(nodes) == 2
		})
		r := h.expect(200, "GET", "/v1/node?clusterName=edge-1&nodeName=n1", root, nil)
		r.into(t, &nodes)
		n1 := nodes[0]
		if n1["cpu"].(float64) != 8 || n1["memory"].(float64) != float64(32<<30) || n1["gpu"].(float64) != float64(32<<30) ||
			n1["gpuCount"].(float64) != 2 || n1["disk"].(float64) != float64(200<<30) || n1["isReady"] != true ||
			n1["kernelVersion"] != "6.8" || n1["ip"] != "10.0.0.1" || n1["operatingSystem"] != "linux" || n1["clusterName"] != "edge-1" {
			t.Fatalf("node n1 %+v", n1)
		}
		r = h.expect(200, "GET", "/v1/node?field=nodeName,isReady", root, nil)
		var picked []map[string]any
		r.into(t, &picked)
		if *r.Total != 2 || len(picked[0]) != 2 || picked[1]["isReady"] != false {
			t.Fatalf("field selection: %+v", picked)
		}
		var env struct{ ReadyNodeCount int64 }
		json.Unmarshal([]byte(r.Raw), &env)
		if env.ReadyNodeCount != 1 {
			t.Fatalf("readyNodeCount %d", env.ReadyNodeCount)
		}
		h.expect(422, "GET", "/v1/node?field=password", root, nil)

		var clusters []map[string]any
		h.expect(200, "GET", "/v1/cluster", root, nil).into(t, &clusters)
		if len(clusters) != 2 || clusters[0]["clusterName"] != "edge-1" || clusters[0]["isReady"] != true || clusters[0]["nodeCount"].(float64) != 2 {
			t.Fatalf("clusters %+v", clusters)
		}
		if clusters[1]["isReady"] != false {
			t.Fatalf("edge-2 never connected but is ready: %+v", clusters[1])
		}

		// Approving a business pushes its namespace to the connected agent.
		tn := h.newTenant(root, "acme")
		d := a1.expect(protocol.KindDesired).Desired
		ns := fmt.Sprintf("ns%d", tn.business.ID)
		if fmt.Sprint(itemNames(d.Items)) != "[namespace/"+ns+"]" || d.Resync {
			t.Fatalf("pushed %v", itemNames(d.Items))
		}
		var spec protocol.NamespaceSpec
		json.Unmarshal(d.Items[0].Spec, &spec)
		if spec.Labels["ote-stack.io/business-id"] != fmt.Sprint(tn.business.ID) {
			t.Fatalf("namespace spec %s", d.Items[0].Spec)
		}
		nsRev := d.Items[0].Revision

		// A node label reaches the node's cluster only.
		a2, _, resync2 := h.connect("edge-2", c2, 0)
		if fmt.Sprint(itemNames(resync2.Items)) != "[namespace/"+ns+"]" {
			t.Fatalf("edge-2 resync %v", itemNames(resync2.Items))
		}
		h.expect(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "gpu.big"})
		d = a1.expect(protocol.KindDesired).Desired
		if fmt.Sprint(itemNames(d.Items)) != "[nodelabel/n1/gpu.big]" {
			t.Fatalf("label push %v", itemNames(d.Items))
		}
		if m, err := a2.read(300 * time.Millisecond); err == nil && m.Kind == protocol.KindDesired && len(m.Desired.Items) > 0 {
			t.Fatalf("edge-2 got edge-1's label: %v", itemNames(m.Desired.Items))
		}
		labelRev := d.Items[0].Revision

		// Status reports are recorded.
		a1.send(&protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{AppliedRevision: labelRev, Items: []protocol.ItemStatus{
			{ItemKey: protocol.ItemKey{Kind: protocol.ItemNamespace, Name: ns}, Revision: nsRev, State: protocol.StateApplied},
		}}})
		cl, _ := h.store.ClusterByName(context.Background(), "edge-1")
		waitFor(t, "status recorded", func() bool {
			st, _ := h.store.ItemStatuses(context.Background(), cl.ID)
			return len(st) == 1 && st[0].State == "applied" && st[0].Revision == nsRev
		})

		// Reconnecting from a revision sends only what came after it.
		h.expect(200, "DELETE", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "gpu.big"})
		a1.expect(protocol.KindDesired)
		a1.conn.Close()
		_, _, d = h.connect("edge-1", c1, nsRev)
		if fmt.Sprint(itemNames(d.Items)) != "[nodelabel/n1/gpu.big(deleted)]" {
			t.Fatalf("resync after %d: %v", nsRev, itemNames(d.Items))
		}
	})
}

func TestSecondSessionReplacesFirst(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	cred := h.join("edge-1")
	first, _, _ := h.connectSilent("edge-1", cred, 0)
	second, _, _ := h.connect("edge-1", cred, 0)
	m := first.expect(protocol.KindError)
	if m.Error.Code != protocol.ErrCodeReplaced {
		t.Fatalf("first session told %+v", m.Error)
	}
	if ce := first.closed(); ce.Code != 4001 {
		t.Fatalf("close code %d", ce.Code)
	}
	// The newer session is the live one: it keeps the cluster online. The
	// positive signals: the first session's end is logged (its record, if
	// any, queued before), and a later session's start is recorded after
	// it (the first session of edge-2 is welcomed once recorded, and the
	// hub records starts and ends in order).
	second.send(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{}})
	waitFor(t, "the first session's end logged", func() bool {
		return strings.Contains(h.logs.String(), `msg="session ended" cluster=edge-1`)
	})
	h.connect("edge-2", h.join("edge-2"), 0)
	cl, _ := h.store.ClusterByName(context.Background(), "edge-1")
	if !cl.Online || !h.tunnel.Connected(cl.ID) {
		t.Fatal("the replaced session's end took the cluster offline")
	}
}

func TestSilentClusterBecomesNotReady(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	cred := h.join("edge-1")
	a, _, _ := h.connectSilent("edge-1", cred, 0)
	ready := func() bool {
		var cls []map[string]any
		h.expect(200, "GET", "/v1/cluster", root, nil).into(t, &cls)
		return cls[0]["isReady"] == true
	}
	// Heartbeats keep it ready over two periods (it reads nothing, so the
	// hub closes it once it has answered no ping for three).
	for i := 0; i < 4; i++ {
		a.send(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{UnixMillis: time.Now().UnixMilli()}})
		time.Sleep(testHeartbeat / 2)
	}
	if !ready() {
		t.Fatalf("a heartbeating cluster is not ready; hub log:\n%s", h.logs.String())
	}
	// The agent goes silent (it stops reading, so it answers no ping either).
	start := time.Now()
	waitFor(t, "cluster not ready", func() bool { return !ready() })
	// Generous slack over the three periods: the machine may be busy.
	if el := time.Since(start); el > 3*testHeartbeat+3*time.Second {
		t.Fatalf("not ready only after %v; want within three periods (%v)", el, 3*testHeartbeat)
	}
}

func TestBadTunnelMessages(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	cred := h.join("edge-1")
	for _, c := range []struct {
		name string
		msg  []byte
		code string
	}{
		{"malformed", []byte(`{"kind":`), protocol.ErrCodeBadMessage},
		{"wrong cluster", []byte(`{"kind":"heartbeat","cluster":"edge-2","heartbeat":{}}`), protocol.ErrCodeWrongCluster},
		{"hub-only kind", []byte(`{"kind":"welcome","welcome":{}}`), protocol.ErrCodeUnexpected},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _, _ := h.connect("edge-1", cred, 0)
			a.sendRaw(c.msg)
			m := a.expect(protocol.KindError)
			if m.Error.Code != c.code {
				t.Fatalf("error %+v, want code %s", m.Error, c.code)
			}
			a.closed()
		})
	}
	t.Run("oversized", func(t *testing.T) {
		a, _, _ := h.connect("edge-1", cred, 0)
		a.sendRaw(make([]byte, protocol.MaxMessageSize+10))
		if _, err := a.read(5 * time.Second); err == nil {
			t.Fatal("session survived an oversized message")
		}
	})
	t.Run("hello must come first", func(t *testing.T) {
		c, _, err := h.dial("edge-1", cred)
		if err != nil {
			t.Fatal(err)
		}
		a := &agent{t: t, conn: c}
		a.send(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{}})
		if m := a.expect(protocol.KindError); m.Error.Code != protocol.ErrCodeUnexpected {
			t.Fatalf("%+v", m.Error)
		}
	})
	t.Run("protocol version", func(t *testing.T) {
		c, _, _ := h.dial("edge-1", cred)
		a := &agent{t: t, conn: c}
		a.send(&protocol.Message{Kind: protocol.KindHello, Hello: &protocol.Hello{ProtocolVersion: protocol.MinVersion - 1}})
		if m := a.expect(protocol.KindError); m.Error.Code != protocol.ErrCodeProtocol {
			t.Fatalf("%+v", m.Error)
		}
	})
	// The hub is unharmed.
	h.expect(200, "GET", "/healthz", "", nil)
	h.connect("edge-1", cred, 0)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForHub is waitFor that shows the hub's log when it times out.
func (h *hub) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var st []string
			for id := uint64(1); id <= 3; id++ {
				rows, _ := h.store.ItemStatuses(context.Background(), id)
				for _, r := range rows {
					st = append(st, fmt.Sprintf("%d %s %s rev=%d %s %q pods=%+v", r.ClusterID, r.Kind, r.Name, r.Revision, r.State, r.Message, r.Pods))
				}
			}
			ds, _, _ := h.store.ListDeploys(context.Background(), store.DeployQuery{})
			for _, d := range ds {
				st = append(st, fmt.Sprintf("deploy %d %s v%s status=%d type=%d msg=%q", d.ID, d.Name, d.Version, d.Status, d.Type, d.ErrorMessage))
			}
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			var stuck []string
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "statusLoop") || strings.Contains(g, "refresh") || strings.Contains(g, "SaveItemStatuses") {
					stuck = append(stuck, g)
				}
			}
			h.t.Fatalf("timed out waiting for %s; item statuses:\n%s\nstatus goroutines:\n%s\nhub log:\n%s", what, strings.Join(st, "\n"), strings.Join(stuck, "\n\n"), h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With a tiny in-memory log and batches of two, agents far behind are served
// from the database in several messages, and live pushes still arrive.
func TestResyncBeyondTheLogInBatches(t *testing.T) {
	h := startHubWith(t, storetest.Open(t, sqlstore.SQLite), tunnel.Options{Heartbeat: time.Second, PollEvery: 50 * time.Millisecond, LogSize: 2, Batch: 2})
	root := h.login(adminName, adminPass)
	cred := h.join("edge-1")
	a, _, _ := h.connect("edge-1", cred, 0)
	var nodes []protocol.Node
	for i := 0; i < 5; i++ {
		nodes = append(nodes, protocol.Node{Name: fmt.Sprint("n", i)})
	}
	a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: nodes}})
	waitFor(t, "inventory", func() bool { return *h.expect(200, "GET", "/v1/node", root, nil).Total == 5 })
	a.conn.Close()
	for i := 0; i < 5; i++ {
		h.expect(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{fmt.Sprint("n", i)}, "nodeLabel": "l"})
	}
	// No wait for the tail loop: a resync first reads every write the hub
	// was notified of, so the log (two items) has moved past revision 3
	// and the agent, at 0, is served from the database.

	a, _, first := h.connect("edge-1", cred, 0)
	got := itemNames(first.Items)
	upTo := first.UpTo
	for upTo < 5 {
		d := a.expect(protocol.KindDesired).Desired
		if len(d.Items) > 2 {
			t.Fatalf("batch of %d items, want at most 2", len(d.Items))
		}
		got = append(got, itemNames(d.Items)...)
		upTo = d.UpTo
	}
	if fmt.Sprint(got) != "[nodelabel/n0/l nodelabel/n1/l nodelabel/n2/l nodelabel/n3/l nodelabel/n4/l]" {
		t.Fatalf("resync %v", got)
	}
	h.expect(200, "DELETE", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n0"}, "nodeLabel": "l"})
	if d := a.expect(protocol.KindDesired).Desired; fmt.Sprint(itemNames(d.Items)) != "[nodelabel/n0/l(deleted)]" {
		t.Fatalf("live push %v", itemNames(d.Items))
	}
}

// Two hub replicas on one PostgreSQL: a write through one reaches an agent
// held by the other at once, by LISTEN/NOTIFY, though that replica polls
// only every hour.
// openReplica opens a store of its own on dsn, as another hub replica does.
func openReplica(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReplicasNotifyEachOther(t *testing.T) {
	dsn := storetest.DSN(t, sqlstore.Postgres)
	open := func() *sqlstore.Store { return openReplica(t, dsn) }
	slow := tunnel.Options{Heartbeat: testHeartbeat, PollEvery: time.Hour}
	stA, stB := open(), open()
	a := startHubWith(t, stA, slow)
	b := startHubWith(t, stB, slow)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	listening := make(chan struct{})
	var once sync.Once
	notify := func() {
		// WatchDesired notifies once its LISTEN is in place: the signal
		// that a write through hub a can now reach hub b.
		once.Do(func() { close(listening) })
		b.tunnel.Notify()
	}
	go func() { defer close(done); stB.WatchDesired(ctx, slog.Default(), notify) }()
	t.Cleanup(func() { cancel(); <-done })

	root := a.login(adminName, adminPass)
	cred := a.join("edge-1")
	ag, _, _ := b.connect("edge-1", cred, 0)
	ag.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: []protocol.Node{{Name: "n1"}}}})
	waitFor(t, "inventory", func() bool { return *a.expect(200, "GET", "/v1/node", root, nil).Total == 1 })
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("hub b never listened for desired-state writes")
	}
	a.expect(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "x"})
	m, err := ag.read(5 * time.Second)
	if err != nil || m.Kind != protocol.KindDesired || fmt.Sprint(itemNames(m.Desired.Items)) != "[nodelabel/n1/x]" {
		t.Fatalf("agent on the other replica: %+v %v", m, err)
	}
}

// At most one live session per cluster across replicas: the agent's new
// session on replica b closes its older one on replica a (told
// "replaced", close code 4001), while b's stays; the cluster's recorded
// session is b's.
func TestOneLiveSessionAcrossReplicas(t *testing.T) {
	dsn := storetest.DSN(t, sqlstore.Postgres)
	open := func() *sqlstore.Store { return openReplica(t, dsn) }
	stA, stB := open(), open()
	opts := tunnel.Options{Heartbeat: testHeartbeat}
	a, b := startHubWith(t, stA, opts), startHubWith(t, stB, opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	listening := make(chan struct{})
	var once sync.Once
	for _, r := range []struct {
		st *sqlstore.Store
		h  *hub
	}{{stA, a}, {stB, b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.st.Watch(ctx, slog.Default(), sqlstore.Changes{Desired: r.h.tunnel.Notify, Sessions: func(ids []uint64) {
				if ids == nil && r.h == a {
					// Called once a's LISTEN is in place.
					once.Do(func() { close(listening) })
				}
				r.h.tunnel.SessionsChanged(ids)
			}})
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("replica a never listened")
	}

	cred := a.join("edge-1")
	// The first session is welcomed once its start is recorded.
	first, _, _ := a.connect("edge-1", cred, 0)
	cl, _ := stA.ClusterByName(context.Background(), "edge-1")
	start := time.Now()
	second, _, _ := b.connect("edge-1", cred, 0)
	m := first.expect(protocol.KindError)
	if m.Error.Code != protocol.ErrCodeReplaced {
		t.Fatalf("the older session was told %+v, want %s", m.Error, protocol.ErrCodeReplaced)
	}
	if ce := first.closed(); ce.Code != 4001 {
		t.Fatalf("close code %d, want 4001", ce.Code)
	}
	t.Logf("the older replica closed its session %v after the newer one was welcomed (heartbeat %v)", time.Since(start).Round(time.Millisecond), testHeartbeat)
	waitFor(t, "replica a let go of the cluster", func() bool { return !a.tunnel.Connected(cl.ID) })
	// The newer session is live: it still carries heartbeats, b holds it,
	// and the database records it.
	second.send(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{}})
	if !b.tunnel.Connected(cl.ID) {
		t.Fatal("replica b closed the newer session")
	}
	owners, err := stB.ClusterSessions(context.Background(), []uint64{cl.ID})
	if err != nil || owners[cl.ID] == "" {
		t.Fatalf("recorded session: %v %v", owners, err)
	}
	// The older session's end is written (a records in order, and a later
	// cluster's first session is welcomed once its start is written):
	// it did not take the cluster offline.
	waitFor(t, "the older session's end logged", func() bool {
		return strings.Contains(a.logs.String(), `msg="session ended" cluster=edge-1`)
	})
	a.connect("edge-2", a.join("edge-2"), 0)
	if cl, _ := stB.ClusterByName(context.Background(), "edge-1"); !cl.Online {
		t.Fatal("the replaced session's end took the cluster offline")
	}
}

// The hub serves an agent of the previous protocol version, speaking as the
// golden messages of that version do, and ignores what a newer agent adds
// (an unknown message kind, an unknown state) instead of closing its
// session.
func TestPreviousVersionAgentIsServed(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	cred := h.join("edge-1")
	golden := func(name string) []byte {
		b, err := os.ReadFile("../../protocol/testdata/v1/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(b)
	}
	c, _, err := h.dial("edge-1", cred)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, conn: c}
	t.Cleanup(func() { c.Close() })
	a.sendRaw(golden("hello.json"))
	if w := a.expect(protocol.KindWelcome).Welcome; w.ProtocolVersion != protocol.Version {
		t.Fatalf("welcome %+v", w)
	}
	d := a.expect(protocol.KindDesired).Desired
	if !d.Resync || len(d.Items) != 1 || d.Items[0].Name != fmt.Sprintf("ns%d", acme.business.ID) {
		t.Fatalf("resync for a version-1 agent: %+v", d)
	}
	a.sendRaw(golden("inventory.json"))
	a.sendRaw([]byte(`{"kind":"teleport","teleport":{}}`))
	a.sendRaw([]byte(`{"kind":"status","status":{"items":[{"kind":"namespace","name":"ns1","revision":1,"state":"meh"}],"appliedRevision":1}}`))
	a.sendRaw(golden("heartbeat.json"))
	// The session is still up and the version-1 inventory was stored.
	waitFor(t, "the version-1 inventory", func() bool {
		var nodes []map[string]any
		h.expect(200, "GET", "/v1/node?clusterName=edge-1", root, nil).into(t, &nodes)
		return len(nodes) == 1 && nodes[0]["nodeName"] == "n1"
	})
	a.send(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{}})
	if !strings.Contains(h.logs.String(), "ignored a message this hub does not know") ||
		!strings.Contains(h.logs.String(), "ignored parts of a message this hub does not know") {
		t.Fatalf("the hub did not log what it ignored:\n%s", h.logs.String())
	}
	cl, err := h.store.ClusterByName(context.Background(), "edge-1")
	if err != nil || !h.tunnel.Connected(cl.ID) {
		t.Fatalf("the hub closed the session of a version-1 agent: %v", err)
	}
}
