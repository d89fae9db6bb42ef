package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/test/apicheck"
	"github.com/ote-stack/ote/test/fault"
	"github.com/ote-stack/ote/test/harness"
)

// edge is one edge site of a fault bed: a network namespace (test/fault)
// whose WAN link leads to the hub and whose LAN link leads to the site's
// own kube-apiserver, and the agent that runs in it.
type edge struct {
	name       string
	site       *fault.Site
	api        *harness.APIServer
	cs         kubernetes.Interface
	kubeconfig string
	// hub is the URL the agent dials: the hub over the WAN link, or a
	// fault proxy to it.
	hub   string
	proxy *fault.Proxy
	agent *proc
}

// faultBed is a hub listening on every address of the test's namespace,
// and edge sites whose agents reach it over links a test can break.
type faultBed struct {
	t       *testing.T
	hb      time.Duration
	port    string
	dataDir string
	hubArgs []string
	h       *hubProc
	root    string
	role    string
	edges   []*edge
	// goroutines is the hub's goroutine count once the bed was up (its
	// go_goroutines, the total of /debug/pprof/goroutine).
	goroutines int
}

// bedOptions shape a fault bed.
type bedOptions struct {
	edges int
	// proxied edges dial the hub through a fault.Proxy (the last ones).
	proxied int
	// dataDir is the hub's (a fresh one when empty).
	dataDir string
	// db is the hub's --db (its embedded SQLite when empty).
	db string
}

const bedHeartbeat = time.Second

func newFaultBed(t *testing.T, o bedOptions) *faultBed {
	t.Helper()
	fault.Require(t)
	b := &faultBed{t: t, hb: bedHeartbeat, dataDir: o.dataDir}
	if b.dataDir == "" {
		b.dataDir = t.TempDir()
	}
	_, b.port, _ = net.SplitHostPort(freePort(t))
	b.hubArgs = []string{"--data-dir", b.dataDir, "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", b.hb.String(), "--enable-admin-auto-deploy"}
	if o.db != "" {
		b.hubArgs = append(b.hubArgs, "--db", o.db)
	}
	b.startHub(nil)
	b.root = b.h.login("admin", "Root-pass1")
	for i := 0; i < o.edges; i++ {
		e := &edge{name: fmt.Sprintf("edge-%d", i), site: fault.NewSite(t, fmt.Sprintf("edge-%d", i))}
		e.api = harness.StartWith(t, harness.Options{ListenAll: true})
		e.cs = e.api.Clientset()
		kc, err := e.api.KubeconfigVia(e.site.LAN.OuterIP)
		if err != nil {
			t.Fatal(err)
		}
		e.kubeconfig = kc
		e.hub = "http://" + net.JoinHostPort(e.site.WAN.OuterIP, b.port)
		if i >= o.edges-o.proxied {
			e.proxy = fault.NewProxy(t, net.JoinHostPort(e.site.WAN.OuterIP, "0"), "127.0.0.1:"+b.port)
			e.hub = "http://" + e.proxy.Addr
		}
		fakeNode(t, e.cs, "node-1", 4, 8, 50, 0, "", true, fmt.Sprintf("10.0.%d.1", i))
		if b.role == "" {
			b.role = workloadRole(t, e.api)
		} else {
			workloadRole(t, e.api)
		}
		b.startAgent(e)
		b.edges = append(b.edges, e)
	}
	eventually(t, 60*time.Second, "every edge cluster ready", func() bool { return b.allReady() })
	b.goroutines = hubGoroutines(b.h)
	return b
}

// startHub starts (or restarts, on the same port and data) the hub, with
// env added to its environment.
func (b *faultBed) startHub(env []string) *hubProc {
	b.t.Helper()
	addr := "0.0.0.0:" + b.port
	if len(env) == 0 {
		b.h = startHub(b.t, addr, b.hubArgs...)
		return b.h
	}
	args := append([]string{"--listen", addr, "--registry-listen", "127.0.0.1:0"}, b.hubArgs...)
	p := startProc(b.t, "hub", hubBin, append([]string{"OTE_LOG_LEVEL=debug"}, env...), args...)
	b.h = &hubProc{proc: p, url: "http://127.0.0.1:" + b.port, addr: addr}
	eventually(b.t, 30*time.Second, "hub ready", func() bool {
		e, err := b.h.try("GET", "/readyz", "", nil)
		return err == nil && e.status == 200
	})
	spec, err := apicheck.Fetch(nil, b.h.url)
	if err != nil {
		b.t.Fatalf("the hub's OpenAPI description: %v", err)
	}
	b.h.spec = spec
	return b.h
}

func (b *faultBed) startAgent(e *edge) {
	b.t.Helper()
	metrics := net.JoinHostPort(e.site.LAN.InnerIP, "9464")
	cmd := e.site.Command(agentBin, "--hub-url", e.hub, "--cluster-name", e.name, "--bootstrap-token", bootstrap,
		"--kubeconfig", e.kubeconfig, "--metrics-listen", metrics, "--workload-role", b.role, "--service-account", "ote-system/ote-agent")
	e.agent = startCmd(b.t, "agent "+e.name, cmd, []string{"OTE_LOG_LEVEL=debug"})
	e.agent.metrics = metrics
}

func (b *faultBed) ready(e *edge) bool { return b.h.clusterReady(b.root, e.name) }

func (b *faultBed) allReady() bool {
	for _, e := range b.edges {
		if !b.ready(e) {
			return false
		}
	}
	return true
}

// labelNodes puts label on node-1 of every edge (once each has reported it).
func (b *faultBed) labelNodes(label string) {
	b.t.Helper()
	for _, e := range b.edges {
		eventually(b.t, 30*time.Second, e.name+"'s node at the hub", func() bool {
			return len(b.h.nodes(b.root, "clusterName="+e.name)) == 1
		})
		b.h.must(200, "POST", "/v1/node/label", b.root, map[string]any{"clusterName": e.name, "nodeName": []string{"node-1"}, "nodeLabel": label})
	}
}

// greeting is what the hello chart's ConfigMap says in an edge ("" when
// there is none).
func (e *edge) greeting(ns string) string {
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "hello-config", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return cm.Data["greeting"]
}

// revisions lists the Helm revisions of release name in an edge, as
// "version:status" in order.
func (e *edge) revisions(t *testing.T, ns, name string) []string {
	t.Helper()
	s, err := e.cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(s.Items))
	for _, sec := range s.Items {
		var v int
		fmt.Sscan(sec.Labels["version"], &v)
		if v >= 1 && v <= len(out) {
			out[v-1] = sec.Labels["version"] + ":" + sec.Labels["status"]
		}
	}
	return out
}

// checkGoroutines fails the test when the hub holds many more goroutines
// than when the bed was up: a fault left something stuck. What it had
// then (sessions, pools) it may have again; a few more come and go
// (requests in flight, a writer that runs on demand).
func (b *faultBed) checkGoroutines(what string) {
	b.t.Helper()
	var now int
	eventually(b.t, 30*time.Second, "the hub's goroutines back near their count before "+what, func() bool {
		now = hubGoroutines(b.h)
		return now >= 0 && now <= b.goroutines+10
	})
	b.t.Logf("hub goroutines: %d when the bed was up, %d after %s", b.goroutines, now, what)
}

// deployChart deploys app at version to every edge through the node label
// "edge" and returns the deployment's id.
func (b *faultBed) deployChart(tok, app, version string) uint64 {
	b.t.Helper()
	var d deployView
	json.Unmarshal(b.h.must(200, "POST", "/v1/deploy", tok, map[string]any{"deployName": app, "appName": app, "version": version, "cluster": "", "nodeLabel": "edge", "comment": "fault bed"}).Data, &d)
	return d.ID
}
