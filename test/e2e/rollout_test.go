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
