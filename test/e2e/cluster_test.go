package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/ote-stack/ote/protocol"
	"github.com/ote-stack/ote/test/harness"
)

const bootstrap = "e2e-bootstrap-token-0123"

// fakeNode creates a Node with a status, as a kubelet would have.
func fakeNode(t *testing.T, cs kubernetes.Interface, name string, cpu, memGi, diskGi, gpus int64, gpuMiB string, ready bool, ip string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux"}}}
	if gpuMiB != "" {
		n.Labels["nvidia.com/gpu.memory"] = gpuMiB
	}
	n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(cpu, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memGi<<30, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(diskGi<<30, resource.BinarySI),
	}
	if gpus > 0 {
		n.Status.Capacity["nvidia.com/gpu"] = *resource.NewQuantity(gpus, resource.DecimalSI)
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", OSImage: "Ubuntu 24.04 LTS", KernelVersion: "6.8.0-45-generic", Architecture: "amd64"}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.Conditions = []corev1.NodeCondition{readyCondition(ready)}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func readyCondition(ready bool) corev1.NodeCondition {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
}

func setReady(t *testing.T, cs kubernetes.Interface, name string, ready bool) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{readyCondition(ready)}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func startAgent(t *testing.T, h *hubProc, api *harness.APIServer, cluster, token string) *proc {
	t.Helper()
	metrics := freePort(t)
	p := startProc(t, "agent "+cluster, agentBin, []string{"OTE_LOG_LEVEL=debug"},
		"--hub-url", h.url, "--cluster-name", cluster, "--bootstrap-token", token,
		"--kubeconfig", api.Kubeconfig, "--metrics-listen", metrics,
		"--workload-role", workloadRole(t, api), "--service-account", "ote-system/ote-agent")
	p.metrics = metrics
	return p
}

// resyncs is how many resyncs the agent has completed (every item of the
// hub's resync applied), from its /metrics; -1 when it cannot be read yet.
func (p *proc) resyncs() int {
	return metric("http://"+p.metrics+"/metrics", "ote_agent_resyncs_total")
}

// workloadRole creates the agent chart's workload ClusterRole (release
// ote-agent in ote-system) in api, as installing the chart would, and
// returns its name: the agent binds it in business namespaces, for itself
// and for the workload identity its charts act as.
func workloadRole(t *testing.T, api *harness.APIServer) string {
	t.Helper()
	ch, err := loader.LoadDir("../../charts/agent")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, map[string]any{"bootstrapToken": "x", "hubUrl": "https://hub.example", "clusterName": "edge"},
		chartutil.ReleaseOptions{Name: "ote-agent", Namespace: "ote-system"}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	const name = "ote-agent-ote-system-workloads"
	for _, doc := range strings.Split(out["ote-agent/templates/rbac.yaml"], "\n---") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			continue // comments only
		}
		role, ok := obj.(*rbacv1.ClusterRole)
		if !ok || role.Name != name {
			continue
		}
		_, err = api.Clientset().RbacV1().ClusterRoles().Create(context.Background(), role, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		return name
	}
	t.Fatalf("the agent chart has no ClusterRole %s", name)
	return ""
}

type nodeView struct {
	NodeName        string   `json:"nodeName"`
	ClusterName     string   `json:"clusterName"`
	OperatingSystem string   `json:"operatingSystem"`
	KernelVersion   string   `json:"kernelVersion"`
	IP              string   `json:"ip"`
	Memory          int64    `json:"memory"`
	CPU             int64    `json:"cpu"`
	IsReady         bool     `json:"isReady"`
	GPU             int64    `json:"gpu"`
	GPUCount        int64    `json:"gpuCount"`
	Disk            int64    `json:"disk"`
	Labels          []string `json:"labels"`
}

func (h *hubProc) nodes(tok, query string) []nodeView {
	h.t.Helper()
	var ns []nodeView
	json.Unmarshal(h.must(200, "GET", "/v1/node?"+query, tok, nil).Data, &ns)
	return ns
}

type clusterView struct {
	ClusterName string `json:"clusterName"`
	NodeCount   int    `json:"nodeCount"`
	IsReady     bool   `json:"isReady"`
}

func (h *hubProc) clusterReady(tok, name string) bool {
	h.t.Helper()
	var cs []clusterView
	json.Unmarshal(h.must(200, "GET", "/v1/cluster", tok, nil).Data, &cs)
	for _, c := range cs {
		if c.ClusterName == name {
			return c.IsReady
		}
	}
	return false
}

// approveBusiness registers an administrator, approves it, and creates and
// approves its business; it returns the namespace.
func (h *hubProc) approveBusiness(root, name string) string {
	h.t.Helper()
	pw := "Pw-" + name + "9"
	h.must(200, "POST", "/v1/user", "", map[string]any{"user": name, "password": pw, "phone": "13800000000", "isAdmin": true, "realName": name})
	var users []struct {
		ID   uint64 `json:"id"`
		User string `json:"user"`
	}
	json.Unmarshal(h.must(200, "GET", "/v1/admin/user?pageSize=1000", root, nil).Data, &users)
	for _, u := range users {
		if u.User == name {
			h.must(200, "PUT", fmt.Sprintf("/v1/admin/user/%d", u.ID), root, map[string]any{"status": 1})
		}
	}
	tok := h.login(name, pw)
	var b struct{ ID uint64 }
	json.Unmarshal(h.must(200, "POST", "/v1/business", tok, map[string]any{"name": name, "introduce": "i", "objective": "o", "scale": "s"}).Data, &b)
	h.must(200, "PUT", fmt.Sprintf("/v1/business/id/%d", b.ID), root, map[string]any{"status": 1, "comment": "ok"})
	return fmt.Sprintf("ns%d", b.ID)
}

func hasNamespace(cs kubernetes.Interface, ns string) bool {
	n, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	return err == nil && n.Labels["app.kubernetes.io/managed-by"] == "ote-agent"
}

func nodeLabel(cs kubernetes.Interface, node, label string) (string, bool) {
	n, err := cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return "", false
	}
	v, ok := n.Labels[protocol.NodeLabelKey(label)]
	return v, ok
}

// TestEdgeClusters runs the real hub and agents against real API servers:
// inventory, readiness, namespaces, node labels, agent and hub restarts, a
// cluster joining later, and refused joins.
func TestEdgeClusters(t *testing.T) {
	// Processes that outlive a subtest are started on the test's own T: a
	// subtest's cleanup would stop them.
	outer := t
	apiA := harness.Start(t)
	csA := apiA.Clientset()
	fakeNode(t, csA, "node-a1", 8, 32, 100, 2, "16384", true, "10.0.0.11")
	fakeNode(t, csA, "node-a2", 4, 16, 50, 0, "", true, "10.0.0.12")

	dataDir := t.TempDir()
	hubArgs := []string{"--data-dir", dataDir, "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s"}
	h := startHub(t, "", hubArgs...)
	root := h.login("admin", "Root-pass1")
	agentA := startAgent(t, h, apiA, "edge-a", bootstrap)

	t.Run("inventory", func(t *testing.T) {
		var ns []nodeView
		eventually(t, 30*time.Second, "two nodes of edge-a", func() bool {
			ns = h.nodes(root, "clusterName=edge-a")
			return len(ns) == 2 && ns[0].IsReady && ns[1].IsReady
		})
		a1 := ns[0]
		if a1.NodeName != "node-a1" || a1.CPU != 8 || a1.Memory != 32<<30 || a1.Disk != 100<<30 || a1.GPUCount != 2 ||
			a1.GPU != 2*16384<<20 || a1.IP != "10.0.0.11" || a1.OperatingSystem != "linux" || a1.KernelVersion != "6.8.0-45-generic" {
			t.Fatalf("node-a1 as the hub shows it: %+v", a1)
		}
		if ns[1].GPU != 0 || ns[1].GPUCount != 0 {
			t.Fatalf("node-a2 has no GPU: %+v", ns[1])
		}
		if !h.clusterReady(root, "edge-a") {
			t.Fatal("edge-a not ready")
		}
		// The credential is kept in the cluster.
		sec, err := csA.CoreV1().Secrets("ote-system").Get(context.Background(), "ote-agent-credential", metav1.GetOptions{})
		if err != nil || !strings.HasPrefix(string(sec.Data["credential"]), "otec_") {
			t.Fatalf("credential secret: %v", err)
		}
		resp, err := http.Get("http://" + agentMetricsAddr(t, agentA) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 1<<20)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		resp.Body.Close()
		if !strings.Contains(b.String(), "ote_agent_connected 1") {
			t.Fatalf("agent metrics lack ote_agent_connected 1")
		}
	})

	t.Run("node turns NotReady", func(t *testing.T) {
		setReady(t, csA, "node-a2", false)
		eventually(t, 15*time.Second, "node-a2 not ready", func() bool {
			ns := h.nodes(root, "clusterName=edge-a&nodeName=node-a2")
			return len(ns) == 1 && !ns[0].IsReady
		})
		setReady(t, csA, "node-a2", true)
		eventually(t, 15*time.Second, "node-a2 ready again", func() bool {
			return h.nodes(root, "clusterName=edge-a&nodeName=node-a2")[0].IsReady
		})
	})

	var ns1 string
	t.Run("business namespace", func(t *testing.T) {
		ns1 = h.approveBusiness(root, "acme")
		eventually(t, 15*time.Second, ns1+" in edge-a", func() bool { return hasNamespace(csA, ns1) })
	})

	t.Run("node label", func(t *testing.T) {
		body := map[string]any{"clusterName": "edge-a", "nodeName": []string{"node-a1"}, "nodeLabel": "gpu"}
		h.must(200, "POST", "/v1/node/label", root, body)
		eventually(t, 15*time.Second, "label on node-a1", func() bool { v, ok := nodeLabel(csA, "node-a1", "gpu"); return ok && v == "true" })
		h.must(200, "DELETE", "/v1/node/label", root, body)
		eventually(t, 15*time.Second, "label gone from node-a1", func() bool { _, ok := nodeLabel(csA, "node-a1", "gpu"); return !ok })
	})

	var ns2 string
	t.Run("agent killed and restarted", func(t *testing.T) {
		agentA.kill()
		start := time.Now()
		eventually(t, 10*time.Second, "edge-a not ready", func() bool { return !h.clusterReady(root, "edge-a") })
		if el := time.Since(start); el > 4*time.Second {
			t.Fatalf("not ready only after %v (heartbeat 1s)", el)
		}
		// Changes while it is away wait for it.
		ns2 = h.approveBusiness(root, "bravo")
		h.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-a", "nodeName": []string{"node-a2"}, "nodeLabel": "edge.zone-1"})
		// No agent runs in edge-a (killed, and seen not ready above):
		// the changes wait in the hub, and edge-a has neither yet.
		if _, ok := nodeLabel(csA, "node-a2", "edge.zone-1"); ok || hasNamespace(csA, ns2) {
			t.Fatal("a change reached edge-a with no agent running")
		}
		agentA = startAgent(outer, h, apiA, "edge-a", bootstrap)
		eventually(t, 30*time.Second, "edge-a converged", func() bool {
			v, ok := nodeLabel(csA, "node-a2", "edge.zone-1")
			return hasNamespace(csA, ns2) && hasNamespace(csA, ns1) && ok && v == "true" && h.clusterReady(root, "edge-a")
		})
		if strings.Contains(agentA.logs(), "joined the hub") {
			t.Fatal("the restarted agent joined again instead of using its kept credential")
		}
	})

	apiB := harness.Start(t)
	csB := apiB.Clientset()
	fakeNode(t, csB, "node-b1", 2, 4, 20, 0, "", true, "10.0.1.11")

	t.Run("refused joins", func(t *testing.T) {
		wrong := startAgent(t, h, apiB, "edge-b", "not-the-bootstrap-token")
		wrong.waitLog(`join refused by the hub: HTTP 401`)
		wrong.stop()
		// A cluster that takes an existing cluster's name is refused.
		thief := startAgent(t, h, apiB, "edge-a", bootstrap)
		thief.waitLog(`join refused by the hub: HTTP 409`)
		thief.stop()
		if !h.clusterReady(root, "edge-a") {
			t.Fatal("the stolen-name attempt disturbed edge-a")
		}
		if strings.Contains(h.logs(), bootstrap) || strings.Contains(wrong.logs(), bootstrap) {
			t.Fatal("the bootstrap token appears in a log")
		}
	})

	t.Run("second cluster joins later", func(t *testing.T) {
		startAgent(outer, h, apiB, "edge-b", bootstrap)
		eventually(t, 30*time.Second, "edge-b has every namespace", func() bool {
			return hasNamespace(csB, ns1) && hasNamespace(csB, ns2) && h.clusterReady(root, "edge-b")
		})
		if _, ok := nodeLabel(csB, "node-b1", "edge.zone-1"); ok {
			t.Fatal("edge-a's node label reached edge-b")
		}
		// The hub writes inventories in batches, a moment after they
		// arrive: wait for it.
		eventually(t, 10*time.Second, "edge-b's node in the API", func() bool {
			ns := h.nodes(root, "clusterName=edge-b")
			return len(ns) == 1 && ns[0].CPU == 2
		})
	})

	t.Run("hub restart", func(t *testing.T) {
		h.stop()
		h = startHub(outer, h.addr, hubArgs...)
		root = h.login("admin", "Root-pass1")
		ns3 := h.approveBusiness(root, "charlie")
		h.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-b", "nodeName": []string{"node-b1"}, "nodeLabel": "late"})
		eventually(t, 60*time.Second, "both clusters converged after the hub restart", func() bool {
			v, ok := nodeLabel(csB, "node-b1", "late")
			return hasNamespace(csA, ns3) && hasNamespace(csB, ns3) && ok && v == "true" &&
				h.clusterReady(root, "edge-a") && h.clusterReady(root, "edge-b")
		})
	})
}

var metricsAddrRE = `msg="serving metrics" addr=(\S+)`

func agentMetricsAddr(t *testing.T, p *proc) string {
	t.Helper()
	p.waitLog(metricsAddrRE)
	m := regexpFind(metricsAddrRE, p.logs())
	return m
}
