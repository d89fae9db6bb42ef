package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ote-stack/ote/test/fault"
	"github.com/ote-stack/ote/test/harness"
)

// refusals counts what a client saw while a fault lasted, and fails on a
// 500, an answer that is not an envelope, or a 503/507 without
// Retry-After.
type refusals struct {
	mu     sync.Mutex
	counts map[int]int
	bad    []string
}

func (r *refusals) see(method, path string, e envelope, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[int]int{}
	}
	if err != nil {
		// A refused or reset connection to the hub is not the hub's
		// answer; the hub must not be down, though.
		r.bad = append(r.bad, fmt.Sprintf("%s %s: no answer: %v", method, path, err))
		return
	}
	r.counts[e.status]++
	switch {
	case e.status == 500:
		r.bad = append(r.bad, fmt.Sprintf("%s %s: 500 %q", method, path, e.Message))
	case (e.status == 503 || e.status == 507) && e.header.Get("Retry-After") == "":
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %d without Retry-After", method, path, e.status))
	case e.status >= 500 && strings.Contains(e.Message, ".go:"):
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %d with internals: %q", method, path, e.status, e.Message))
	}
}

func (r *refusals) check(t *testing.T, want int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("answers during the fault, by status: %v", r.counts)
	if len(r.bad) > 0 {
		t.Fatalf("%d bad answers during the fault, first: %s", len(r.bad), r.bad[0])
	}
	if r.counts[want] == 0 {
		t.Fatalf("no %d answered during the fault: it was not seen", want)
	}
}

// TestFaultPostgresRestart: two hub replicas share a PostgreSQL of the
// test's own; an agent is held by replica a, writes go through replica b.
// PostgreSQL restarts while writes and reads are in flight: both replicas
// answer 503 with Retry-After meanwhile (never 500), replica a's LISTEN
// reconnects, and every write made once PostgreSQL is back reaches the
// agent through it (no wake-up lost); the agent's cluster converges.
func TestFaultPostgresRestart(t *testing.T) {
	fault.Require(t)
	pg := fault.NewPostgres(t)
	b := newFaultBed(t, bedOptions{edges: 1, db: pg.DSN})
	a := b.h
	e := b.edges[0]
	hubB := startHub(t, "", "--data-dir", t.TempDir(), "--db", pg.DSN, "--admin-password", "Root-pass1",
		"--agent-bootstrap-token", bootstrap, "--heartbeat-interval", b.hb.String())
	rootB := hubB.login("admin", "Root-pass1")
	eventually(t, 30*time.Second, e.name+"'s node at the hub", func() bool { return len(a.nodes(b.root, "clusterName="+e.name)) == 1 })
	label := func(h *hubProc, tok string, n int) (envelope, error) {
		return h.try("POST", "/v1/node/label", tok, map[string]any{"clusterName": e.name, "nodeName": []string{"node-1"}, "nodeLabel": fmt.Sprintf("l%d", n)})
	}
	if _, err := label(hubB, rootB, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a label written through b on the node", func() bool { _, ok := nodeLabel(e.cs, "node-1", "l0"); return ok })

	// Load: writes through b, reads through a, until told to stop.
	var seen refusals
	var written atomic.Int64 // labels whose write was answered 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond) // a client's pace
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			env, err := label(hubB, rootB, n)
			seen.see("POST", "/v1/node/label", env, err)
			if err == nil && env.status == 200 {
				written.Store(int64(n))
			}
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			env, err := a.try("GET", "/v1/cluster", b.root, nil)
			seen.see("GET", "/v1/cluster", env, err)
		}
	}()
	eventually(t, 30*time.Second, "writes in flight", func() bool { return written.Load() >= 5 })
	pg.Stop(t)
	eventually(t, 30*time.Second, "the hub answering 503 while PostgreSQL is down", func() bool {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		return seen.counts[503] >= 5
	})
	if env, err := a.try("GET", "/readyz", "", nil); err != nil || env.status != 503 || env.header.Get("Retry-After") == "" {
		t.Fatalf("readyz while PostgreSQL is down: %v %d, want 503 with Retry-After", err, env.status)
	}
	pg.Start(t)
	before := written.Load()
	eventually(t, 60*time.Second, "writes answered again", func() bool { return written.Load() > before+5 })
	close(stop)
	wg.Wait()
	seen.check(t, 503)

	// No wake-up lost: the last label written through b reaches the node
	// held by a, and so does one written now.
	last := written.Load()
	if env, err := label(hubB, rootB, 100000); err != nil || env.status != 200 {
		t.Fatalf("a write after the restart: %v %d", err, env.status)
	}
	eventually(t, 60*time.Second, "the labels written after the restart on the node", func() bool {
		_, okLast := nodeLabel(e.cs, "node-1", fmt.Sprintf("l%d", last))
		_, okNew := nodeLabel(e.cs, "node-1", "l100000")
		return okLast && okNew
	})
	if !strings.Contains(a.logs(), "listening for desired-state writes failed; retrying") {
		t.Fatal("replica a never lost its LISTEN connection: PostgreSQL did not restart under it")
	}
	eventually(t, 60*time.Second, "the cluster ready", b.allReady)
	b.checkGoroutines("a PostgreSQL restart")
}

// TestFaultDiskFull: the hub's data directory (its SQLite database) fills
// up. Writes are refused with 507 and Retry-After, reads go on, nothing of
// a refused write is kept; once space returns, writes succeed and reach
// the cluster.
func TestFaultDiskFull(t *testing.T) {
	fault.Require(t)
	disk := fault.NewSmallDisk(t, 64)
	b := newFaultBed(t, bedOptions{edges: 1, dataDir: disk.Dir})
	h := b.h
	e := b.edges[0]
	ns := h.approveBusiness(b.root, "fully")
	admin := h.login("fully", "Pw-fully9")
	h.must(200, "POST", "/v1/app", admin, containerApp("1.0"))

	disk.Fill(t)
	var seen refusals
	for i := 0; i < 3; i++ {
		app := containerApp(fmt.Sprintf("2.%d", i))
		env, err := h.try("POST", "/v1/app", admin, app)
		seen.see("POST", "/v1/app", env, err)
		env, err = h.try("POST", "/v1/deploy", admin, map[string]any{"deployName": fmt.Sprintf("full%d", i), "appName": "web", "version": "1.0"})
		seen.see("POST", "/v1/deploy", env, err)
		env, err = h.try("GET", "/v1/app", admin, nil)
		seen.see("GET", "/v1/app", env, err)
		if err == nil && env.status != 200 {
			t.Fatalf("a read while the disk is full: %d %s", env.status, env.Message)
		}
	}
	seen.check(t, 507)
	// Nothing half-written: the refused versions and deployments are not
	// there.
	if env := h.must(200, "GET", "/v1/deploy?pageSize=0", admin, nil); strings.Contains(string(env.Data), `"full`) {
		t.Fatalf("a deployment refused for a full disk exists: %s", env.Data)
	}
	for i := 0; i < 3; i++ {
		env := h.must(200, "GET", fmt.Sprintf("/v1/app?appName=web&appNameMode=strict&version=2.%d", i), admin, nil)
		if env.Total == nil || *env.Total != 0 {
			t.Fatalf("a version refused for a full disk exists: %s", env.Data)
		}
	}

	disk.Free(t)
	h.must(200, "POST", "/v1/app", admin, containerApp("2.0"))
	h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "web", "appName": "web", "version": "2.0"})
	eventually(t, 60*time.Second, "web 2.0 in "+e.name, func() bool { return deploymentImage(e.cs, ns, "web") == "registry.example.com/web:2.0" })
	eventually(t, 30*time.Second, "the cluster ready", b.allReady)
	b.checkGoroutines("a full disk")
}

// tunnelSessions is how many agent sessions the hub holds, from its
// /metrics; -1 when it cannot be read.
func (h *hubProc) tunnelSessions() int { return metric(h.url+"/metrics", "ote_hub_tunnel_sessions") }

// TestFaultReplicaKilled: three hub replicas share a PostgreSQL behind a
// balancer; three agents spread over them. One replica is killed (SIGKILL)
// in the middle of a fan-out: its agents reconnect through the balancer to
// the others, every cluster converges with one Helm revision per version,
// and the live replicas hold exactly one session per cluster.
func TestFaultReplicaKilled(t *testing.T) {
	fault.Require(t)
	pg := fault.NewPostgres(t)
	const hb = time.Second
	var hubs []*hubProc
	var addrs []string
	for range 3 {
		// Replicas share the database and the keys, nothing else.
		h := startHub(t, "", "--data-dir", t.TempDir(), "--db", pg.DSN, "--admin-password", "Root-pass1",
			"--jwt-key", "e2e-replicas-jwt-key-0123456789abcdef", "--secret-key", "e2e-replicas-secret-key-0123456789abcdef",
			"--agent-bootstrap-token", bootstrap, "--heartbeat-interval", hb.String(), "--enable-admin-auto-deploy")
		hubs = append(hubs, h)
		addrs = append(addrs, h.addr)
	}
	lb := fault.NewBalancer(t, "127.0.0.1:0", addrs...)
	var edges []*edge
	for i := range 3 {
		e := &edge{name: fmt.Sprintf("edge-%d", i), api: harness.Start(t)}
		e.cs = e.api.Clientset()
		fakeNode(t, e.cs, "node-1", 4, 8, 50, 0, "", true, fmt.Sprintf("10.0.%d.1", i))
		e.agent = startProc(t, "agent "+e.name, agentBin, []string{"OTE_LOG_LEVEL=debug"},
			"--hub-url", "http://"+lb.Addr, "--cluster-name", e.name, "--bootstrap-token", bootstrap,
			"--kubeconfig", e.api.Kubeconfig, "--metrics-listen", freePort(t), "--workload-role", workloadRole(t, e.api), "--service-account", "ote-system/ote-agent")
		edges = append(edges, e)
	}
	w := hubs[0] // writes go through this one until it is the victim
	root := w.login("admin", "Root-pass1")
	allReady := func(h *hubProc, tok string) bool {
		for _, e := range edges {
			if !h.clusterReady(tok, e.name) {
				return false
			}
		}
		return true
	}
	eventually(t, 60*time.Second, "every cluster ready", func() bool { return allReady(w, root) })
	eventually(t, 30*time.Second, "one session per cluster over the replicas", func() bool {
		n := 0
		for _, h := range hubs {
			n += max(h.tunnelSessions(), 0)
		}
		return n == len(edges)
	})
	held := make([]int, len(hubs))
	for i, h := range hubs {
		held[i] = h.tunnelSessions()
	}
	t.Logf("sessions per replica: %v", held)
	victim := slices.IndexFunc(held[1:], func(n int) bool { return n > 0 }) + 1
	if victim == 0 {
		victim, w = 0, hubs[1]
	}
	// A token of one replica is good at every other.
	for _, h := range hubs {
		h.must(200, "GET", "/v1/cluster", root, nil)
	}

	ns := w.approveBusiness(root, "replicated")
	admin := w.login("replicated", "Pw-replicated9")
	w.uploadChart(admin, "hello", "1.0", chartArchive(t, "0.1.0", "hello"))
	w.uploadChart(admin, "hello", "1.1", chartArchive(t, "0.2.0", "bonjour"))
	for _, e := range edges {
		eventually(t, 30*time.Second, e.name+"'s node at the hub", func() bool { return len(w.nodes(root, "clusterName="+e.name)) == 1 })
		w.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": e.name, "nodeName": []string{"node-1"}, "nodeLabel": "edge"})
	}
	var d deployView
	json.Unmarshal(w.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "hello", "appName": "hello", "version": "1.0", "cluster": "", "nodeLabel": "edge"}).Data, &d)
	for _, e := range edges {
		eventually(t, 60*time.Second, "1.0 in "+e.name, func() bool { return e.greeting(ns) == "hello" })
	}

	// The fan-out of 1.1 starts; the victim dies at once.
	w.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, map[string]any{"version": "1.1"})
	hubs[victim].kill()
	t.Logf("killed replica %d (it held %d sessions) as the fan-out began", victim, held[victim])
	for _, e := range edges {
		eventually(t, 90*time.Second, "1.1 in "+e.name, func() bool { return e.greeting(ns) == "bonjour" })
	}
	// Every agent has reported the upgrade done (Helm writes the objects
	// before it records the revision deployed): then the revisions are
	// final.
	eventually(t, 30*time.Second, "deployment success", func() bool { got := w.deploy(admin, d.ID); return got.Status == 5 && got.Version == "1.1" })
	for _, e := range edges {
		if got := e.revisions(t, ns, "hello"); !slices.Equal(got, []string{"1:superseded", "2:deployed"}) {
			t.Fatalf("%s: Helm revisions %v, want one per version", e.name, got)
		}
	}
	eventually(t, 60*time.Second, "every cluster ready on the live replicas", func() bool { return allReady(w, root) })
	eventually(t, 30*time.Second, "one session per cluster over the live replicas", func() bool {
		n := 0
		for i, h := range hubs {
			if i != victim {
				n += max(h.tunnelSessions(), 0)
			}
		}
		return n == len(edges)
	})
}
