package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/test/harness"
)

// kubectl runs the kubectl on PATH against api; a test that needs it fails
// under CI when it is missing, and says so elsewhere.
func kubectl(t *testing.T, api *harness.APIServer, env []string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kubectl is not on PATH")
		}
		t.Skip("kubectl is not on PATH: this test edits a Deployment with it")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", api.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func replicas(cs kubernetes.Interface, ns, name string) int32 {
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

type driftView struct {
	Cluster, Object, Field, Desired, Actual, Manager string
	Corrected                                        bool
}

func (h *hubProc) drift(tok string, id uint64) []driftView {
	h.t.Helper()
	var d struct {
		Drift []driftView `json:"drift"`
	}
	json.Unmarshal(h.must(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", id), tok, nil).Data, &d)
	return d.Drift
}

// TestDriftCorrectedAndAttributed: someone edits the image and scales the
// replicas of an applied Deployment with kubectl; the agent puts both
// back, and the hub's API names what changed, who changed it, and that it
// was corrected. With the drift policy report the change stays, reported.
func TestDriftCorrectedAndAttributed(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "node-1", 8, 32, 100, 0, "", true, "10.0.0.21")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	agent := startAgent(t, h, api, "edge-1", bootstrap)
	eventually(t, 30*time.Second, "edge-1 ready", func() bool { return h.clusterReady(root, "edge-1") })
	ns := h.approveBusiness(root, "acme")
	admin := h.login("acme", "Pw-acme9")
	h.must(200, "POST", "/v1/app", admin, containerApp("1.0"))
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "east"})
	var fixed, kept deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "east"}).Data, &fixed)
	h.audit(admin, fixed.ID, 1)
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "kept", "appName": "web", "version": "1.0", "cluster": "east", "driftPolicy": "report"}).Data, &kept)
	h.audit(admin, kept.ID, 1)
	eventually(t, 30*time.Second, "both deployments applied", func() bool {
		return deploymentImage(cs, ns, "web") == "registry.example.com/web:1.0" && deploymentImage(cs, ns, "kept") == "registry.example.com/web:1.0"
	})

	for _, name := range []string{"web", "kept"} {
		kubectl(t, api, []string{`KUBE_EDITOR=sed -i s|registry.example.com/web:1.0|registry.example.com/web:evil|`}, "-n", ns, "edit", "deployment/"+name)
		kubectl(t, api, nil, "-n", ns, "scale", "deployment/"+name, "--replicas=5")
	}
	eventually(t, 30*time.Second, "web's image and replicas put back", func() bool {
		return deploymentImage(cs, ns, "web") == "registry.example.com/web:1.0" && replicas(cs, ns, "web") == 2
	})
	var image, scaled driftView
	eventually(t, 30*time.Second, "the hub names the changes of web", func() bool {
		for _, d := range h.drift(admin, fixed.ID) {
			switch d.Field {
			case "spec.template.spec.containers[app].image":
				image = d
			case "spec.replicas":
				scaled = d
			}
		}
		return image.Field != "" && scaled.Field != ""
	})
	if image.Manager != "kubectl-edit" || image.Actual != "registry.example.com/web:evil" || image.Desired != "registry.example.com/web:1.0" ||
		!image.Corrected || image.Cluster != "edge-1" || image.Object != "Deployment/web" {
		t.Errorf("image drift %+v", image)
	}
	if !strings.HasPrefix(scaled.Manager, "kubectl") || scaled.Actual != "5" || scaled.Desired != "2" || !scaled.Corrected {
		t.Errorf("replicas drift %+v", scaled)
	}
	// Policy report: the hub hears of it, the cluster keeps the change.
	eventually(t, 30*time.Second, "kept's drift reported", func() bool {
		for _, d := range h.drift(admin, kept.ID) {
			if d.Field == "spec.template.spec.containers[app].image" && d.Manager == "kubectl-edit" && !d.Corrected {
				return true
			}
		}
		return false
	})
	if deploymentImage(cs, ns, "kept") != "registry.example.com/web:evil" || replicas(cs, ns, "kept") != 5 {
		t.Errorf("a deployment with drift policy report was corrected: %s, %d replicas", deploymentImage(cs, ns, "kept"), replicas(cs, ns, "kept"))
	}
	for _, m := range []struct {
		url, name, action string
		least             float64
	}{
		{"http://" + agent.metrics + "/metrics", "ote_agent_drift_total", "corrected", 2},
		{h.url + "/metrics", "ote_hub_drift_total", "corrected", 2},
		{h.url + "/metrics", "ote_hub_drift_total", "reported", 1},
	} {
		fams, err := parseMetrics(m.url)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := value(fams, m.name, map[string]string{"action": m.action}); !ok || v < m.least {
			t.Errorf("%s{action=%q} = %v (%v), want at least %v", m.name, m.action, v, ok, m.least)
		}
	}
}

// kubelet stands in for the Deployment controller and the kubelet, which
// do not run here: it replaces the pods of workload name with n pods of
// the Deployment's current template (its labels, so its version, and its
// spec), ready, or waiting for reason.
func kubelet(t *testing.T, cs kubernetes.Interface, ns, name string, n int, waiting string) {
	t.Helper()
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)},
		metav1.ListOptions{LabelSelector: "ote-stack.io/deploy=" + name}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%d", name, d.Spec.Template.Labels["ote-stack.io/version"], i),
			Namespace: ns, Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		setPod(t, cs, ns, p.Name, waiting == "", waiting)
	}
}

type rolloutView struct {
	State  string `json:"state"`
	Wave   int    `json:"wave"`
	Reason string `json:"reason"`
}

func (h *hubProc) rolloutOf(tok string, id uint64) (deployView, rolloutView) {
	h.t.Helper()
	var d struct {
		deployView
		Editable   bool         `json:"editable"`
		DeployType int          `json:"deployType"`
		Rollout    *rolloutView `json:"rollout"`
	}
	json.Unmarshal(h.must(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", id), tok, nil).Data, &d)
	if d.Rollout == nil {
		return d.deployView, rolloutView{}
	}
	return d.deployView, *d.Rollout
}

// waveAudit is the pending approval of a rollout's wave of deployment id.
func (h *hubProc) waveAudit(tok string, id uint64) (uint64, int, []string) {
	h.t.Helper()
	var as []struct {
		ID       uint64   `json:"id"`
		DeployID uint64   `json:"deployId"`
		Status   int      `json:"status"`
		Wave     int      `json:"wave"`
		Clusters []string `json:"clusters"`
	}
	json.Unmarshal(h.must(200, "GET", "/v1/admin/deploy?pageSize=100&desc=true", tok, nil).Data, &as)
	for _, a := range as {
		if a.DeployID == id && a.Status == 0 && a.Wave > 0 {
			return a.ID, a.Wave, a.Clusters
		}
	}
	return 0, 0, nil
}

func generation(cs kubernetes.Interface, ns, name string) int64 {
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return -1
	}
	return d.Generation
}

// TestRolloutAcrossClusters: three edge clusters, each its own real API
// server with its agent. A three-wave rollout (the canary, then one, then
// one) waits on each wave's health and, after the canary, on an approval;
// paused, it holds; resumed, it finishes. A bad version fails in the canary
// and is rolled back there while the other clusters never see it. A wave
// with an offline cluster passes with maxUnavailable 1, and the cluster
// converges when its agent is back.
func TestRolloutAcrossClusters(t *testing.T) {
	names := []string{"edge-a", "edge-b", "edge-c"}
	apis := map[string]*harness.APIServer{}
	cs := map[string]kubernetes.Interface{}
	for i, n := range names {
		apis[n] = harness.Start(t)
		cs[n] = apis[n].Clientset()
		fakeNode(t, cs[n], "node-"+n, 8, 32, 100, 0, "", true, fmt.Sprintf("10.0.%d.11", i))
	}
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	agents := map[string]*proc{}
	for _, n := range names {
		agents[n] = startAgent(t, h, apis[n], n, bootstrap)
	}
	eventually(t, 60*time.Second, "three clusters ready", func() bool {
		return h.clusterReady(root, "edge-a") && h.clusterReady(root, "edge-b") && h.clusterReady(root, "edge-c")
	})
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": names, "clusterLabel": "edge"})
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-a"}, "clusterLabel": "canary"})
	ns := h.approveBusiness(root, "acme")
	admin := h.login("acme", "Pw-acme9")
	h.must(200, "POST", "/v1/admin/user", admin, map[string]any{"user": "dev", "password": "Dev-pass1", "phone": "13800000000", "isAdmin": false, "realName": "Dev"})
	dev := h.login("dev", "Dev-pass1")
	for _, v := range []string{"1.0", "2.0", "2.1", "3.0"} {
		h.must(200, "POST", "/v1/app", dev, containerApp(v))
	}
	image := func(n string) string { return deploymentImage(cs[n], ns, "web") }
	img := func(v string) string { return "registry.example.com/web:" + v }

	var d deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", dev, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge"}).Data, &d)
	h.audit(admin, d.ID, 1)
	eventually(t, 60*time.Second, "1.0 in every cluster", func() bool {
		return image("edge-a") == img("1.0") && image("edge-b") == img("1.0") && image("edge-c") == img("1.0")
	})
	for _, n := range names {
		kubelet(t, cs[n], ns, "web", 2, "")
	}
	eventually(t, 60*time.Second, "1.0 succeeds", func() bool { return h.deploy(dev, d.ID).Status == 5 })

	// 2.0: canary, approval, one, then the last; each wave soaks 2 s.
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "2.0", "comment": "waves", "strategy": map[string]any{
		"waves":       []map[string]any{{"name": "canary", "clusterLabel": "canary", "approval": true}, {"count": 1}, {}},
		"soakSeconds": 2, "deadlineSeconds": 120}})
	h.audit(admin, d.ID, 1)
	eventually(t, 60*time.Second, "2.0 in the canary", func() bool { return image("edge-a") == img("2.0") })
	// The health gate: the canary's 1.0 pods do not make 2.0 healthy.
	eventually(t, 60*time.Second, "the canary wave judged unhealthy", func() bool {
		_, r := h.rolloutOf(dev, d.ID)
		return r.State == "running" && strings.Contains(r.Reason, `wave "canary": 0 of 1 clusters healthy`)
	})
	if id, _, _ := h.waveAudit(admin, d.ID); id != 0 || image("edge-b") != img("1.0") || image("edge-c") != img("1.0") {
		t.Fatalf("the rollout went past an unhealthy canary: approval %d, edge-b %s, edge-c %s", id, image("edge-b"), image("edge-c"))
	}
	kubelet(t, cs["edge-a"], ns, "web", 2, "")
	var approval uint64
	eventually(t, 60*time.Second, "the approval of wave 2", func() bool {
		id, wave, clusters := h.waveAudit(admin, d.ID)
		approval = id
		return id != 0 && wave == 2 && len(clusters) == 1 && clusters[0] == "edge-b"
	})
	h.must(403, "PUT", "/v1/admin/deploy", dev, map[string]any{"id": approval, "status": 1, "comment": "mine"})
	h.must(200, "PUT", "/v1/admin/deploy", admin, map[string]any{"id": approval, "status": 1, "comment": "canary is fine"})
	eventually(t, 60*time.Second, "2.0 in edge-b", func() bool { return image("edge-b") == img("2.0") })
	if image("edge-c") != img("1.0") {
		t.Fatal("edge-c changed with edge-b")
	}
	// Paused: edge-b turns healthy, and nothing moves.
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), dev, map[string]any{"action": "pause"})
	h.must(409, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "2.1", "comment": "meanwhile"})
	kubelet(t, cs["edge-b"], ns, "web", 2, "")
	eventually(t, 60*time.Second, "edge-b healthy in the hub", func() bool { return strings.Contains(h.deploy(dev, d.ID).ErrorMessage, "edge-b: 2/2 pods running") })
	if _, r := h.rolloutOf(dev, d.ID); r.State != "paused" || image("edge-c") != img("1.0") {
		t.Fatalf("a paused rollout moved: %+v, edge-c %s", r, image("edge-c"))
	}
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), dev, map[string]any{"action": "resume"})
	eventually(t, 60*time.Second, "2.0 in edge-c", func() bool { return image("edge-c") == img("2.0") })
	kubelet(t, cs["edge-c"], ns, "web", 2, "")
	eventually(t, 60*time.Second, "the rollout succeeds", func() bool {
		got, r := h.rolloutOf(dev, d.ID)
		return r.State == "succeeded" && got.Status == 5 && got.Version == "2.0"
	})

	// 3.0 crashes in the canary: rolled back there; edge-b and edge-c never see it.
	genB, genC := generation(cs["edge-b"], ns, "web"), generation(cs["edge-c"], ns, "web")
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "3.0", "comment": "bad", "strategy": map[string]any{
		"waves": []map[string]any{{"clusterLabel": "canary"}, {}}, "soakSeconds": 2, "deadlineSeconds": 120, "autoRollback": true}})
	h.audit(admin, d.ID, 1)
	eventually(t, 60*time.Second, "3.0 in the canary", func() bool { return image("edge-a") == img("3.0") })
	kubelet(t, cs["edge-a"], ns, "web", 2, "CrashLoopBackOff")
	eventually(t, 60*time.Second, "rolled back", func() bool {
		_, r := h.rolloutOf(dev, d.ID)
		return r.State == "rolledBack" && strings.Contains(r.Reason, "edge-a: 0/2 pods running, 2 failed")
	})
	eventually(t, 60*time.Second, "2.0 back in the canary", func() bool { return image("edge-a") == img("2.0") })
	kubelet(t, cs["edge-a"], ns, "web", 2, "")
	eventually(t, 60*time.Second, "2.0 succeeds again", func() bool {
		got := h.deploy(dev, d.ID)
		return got.Status == 5 && got.Version == "2.0"
	})
	if g := generation(cs["edge-b"], ns, "web"); g != genB || image("edge-b") != img("2.0") {
		t.Fatalf("edge-b's Deployment changed during the failed rollout: generation %d (was %d), %s", g, genB, image("edge-b"))
	}
	if g := generation(cs["edge-c"], ns, "web"); g != genC || image("edge-c") != img("2.0") {
		t.Fatalf("edge-c's Deployment changed during the failed rollout: generation %d (was %d), %s", g, genC, image("edge-c"))
	}

	// An offline cluster in a wave: with maxUnavailable 1 the wave passes
	// on edge-b alone; edge-c converges when its agent is back.
	agents["edge-c"].kill()
	eventually(t, 60*time.Second, "edge-c offline", func() bool { return !h.clusterReady(root, "edge-c") })
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "2.1", "comment": "one is down", "strategy": map[string]any{
		"waves": []map[string]any{{"clusterLabel": "canary"}, {}}, "maxUnavailable": 1, "soakSeconds": 2, "deadlineSeconds": 120}})
	h.audit(admin, d.ID, 1)
	eventually(t, 60*time.Second, "2.1 in the canary", func() bool { return image("edge-a") == img("2.1") })
	kubelet(t, cs["edge-a"], ns, "web", 2, "")
	eventually(t, 60*time.Second, "2.1 in edge-b", func() bool { return image("edge-b") == img("2.1") })
	kubelet(t, cs["edge-b"], ns, "web", 2, "")
	eventually(t, 60*time.Second, "the rollout succeeds without edge-c", func() bool {
		_, r := h.rolloutOf(dev, d.ID)
		return r.State == "succeeded"
	})
	if image("edge-c") != img("2.0") {
		t.Fatalf("edge-c changed with no agent: %s", image("edge-c"))
	}
	startAgent(t, h, apis["edge-c"], "edge-c", bootstrap)
	eventually(t, 60*time.Second, "2.1 in edge-c once its agent is back", func() bool { return image("edge-c") == img("2.1") })
}
