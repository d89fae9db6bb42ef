package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/test/harness"
)

// gatedChart is a chart whose install waits on a pre-install hook Pod,
// {{ .Release.Name }}-gate: Helm creates it and watches it until its phase
// is Succeeded (the install goes on) or Failed (the install fails). The
// harness's API server has no scheduler or kubelet, so the Pod stays
// Pending, and the install waits, until the test sets its phase. The Pod
// is what a restricted namespace admits.
func gatedChart(t *testing.T) []byte {
	return chartWith(t, "gated", map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  installed: \"yes\"\n",
		"gate.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-gate\n  annotations:\n" +
			"    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: before-hook-creation\n" +
			"spec:\n  restartPolicy: Never\n  securityContext:\n    runAsNonRoot: true\n    runAsUser: 65534\n" +
			"    seccompProfile:\n      type: RuntimeDefault\n  containers:\n    - name: gate\n      image: busybox:1.36\n" +
			"      command: [\"true\"]\n      securityContext:\n        allowPrivilegeEscalation: false\n" +
			"        capabilities:\n          drop: [\"ALL\"]\n",
	})
}

// finishPod sets a Pod's phase, as a kubelet would once it ran.
func finishPod(t *testing.T, cs kubernetes.Interface, ns, name string, phase corev1.PodPhase) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = phase
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSlowChart: the agent never stalls its tunnel. Two chart installs wait
// on a pre-install hook for many heartbeat periods (1s here, so a cluster
// unheard for 3s is not ready); all along the cluster stays ready, the
// agent keeps its one session, and the API shows both deployments as
// applying. A third deployment made meanwhile is applied beside them,
// before either ends. Released, one install completes and the deployment
// succeeds; the other's hook fails and the API shows Helm's reason.
func TestSlowChart(t *testing.T) {
	const (
		heartbeat = time.Second
		// hold is how long the installs stay blocked once the API shows
		// them as applying: several ready windows (3 heartbeats).
		hold    = 8 * heartbeat
		cluster = "edge-slow"
	)
	api := harness.Start(t)
	cs := api.Clientset()
	ctx := context.Background()
	fakeNode(t, cs, "node-1", 4, 8, 50, 0, "", true, "10.0.0.41")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", heartbeat.String(), "--enable-admin-auto-deploy")
	root := h.login("admin", "Root-pass1")
	agent := startAgent(t, h, api, cluster, bootstrap)
	eventually(t, 30*time.Second, "cluster ready", func() bool { return h.clusterReady(root, cluster) })
	ns := h.approveBusiness(root, "slowpoke")
	admin := h.login("slowpoke", "Pw-slowpoke9")
	h.uploadChart(admin, "gated", "1.0", gatedChart(t))
	h.uploadChart(admin, "hello", "1.0", chartArchive(t, "0.1.0", "hello"))
	sessions := strings.Count(agent.logs(), "connected to the hub")
	if sessions != 1 {
		t.Fatalf("%d agent sessions before the installs, want 1", sessions)
	}

	deployNew := func(name, app string) uint64 {
		var d deployView
		json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": name, "appName": app, "version": "1.0", "comment": "slow chart test"}).Data, &d)
		return d.ID
	}
	podExists := func(name string) bool {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	configMapExists := func(name string) bool {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	applying := func(d deployView) bool {
		return d.Status == 4 && d.ErrorMessage == cluster+": applying"
	}

	// Each sample reads the cluster's readiness and fails at the first
	// not-ready one; readySince is when the samples began.
	var readySamples int
	var readySince time.Time
	sampleReady := func(when string) {
		t.Helper()
		if !h.clusterReady(root, cluster) {
			t.Fatalf("cluster %s not ready %s (%v after the first sample, %d ready samples before)", cluster, when, time.Since(readySince), readySamples)
		}
		if n := strings.Count(agent.logs(), "connected to the hub"); n != sessions {
			t.Fatalf("the agent connected again %s: %d sessions", when, n)
		}
		readySamples++
	}
	// poll samples readiness, then cond, every 100ms until cond holds.
	poll := func(timeout time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			sampleReady("while waiting for " + what)
			if cond() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	start := time.Now()
	okID, badID := deployNew("slow-ok", "gated"), deployNew("slow-bad", "gated")
	readySince = time.Now()
	// Both installs reach their hook and wait on it.
	poll(60*time.Second, "the hook pods", func() bool { return podExists("slow-ok-gate") && podExists("slow-bad-gate") })
	if configMapExists("slow-ok-config") || configMapExists("slow-bad-config") {
		t.Fatal("a release's objects exist while its pre-install hook has not run")
	}
	// One heartbeat into the apply the agent reports it as applying.
	poll(30*time.Second, "both slow deployments reported as applying", func() bool {
		return applying(h.deploy(admin, okID)) && applying(h.deploy(admin, badID))
	})
	applyingSeen := time.Now()
	t.Logf("hooks waiting and applying reported %v after the deployments", applyingSeen.Sub(start))

	// A plain chart deployed meanwhile is applied beside them.
	plainID := deployNew("plain", "hello")
	poll(60*time.Second, "the plain deployment applied", func() bool {
		return configMapExists("plain-config") && h.deploy(admin, plainID).Status == 5
	})
	t.Logf("plain deployment applied %v after the slow ones were applying: %q", time.Since(applyingSeen), h.deploy(admin, plainID).ErrorMessage)

	// The installs stay blocked for several ready windows; every sample
	// finds the cluster ready and both still applying.
	stillApplying := func() bool {
		for _, id := range []uint64{okID, badID} {
			if d := h.deploy(admin, id); !applying(d) {
				t.Fatalf("deployment %d is %d %q while its install waits, want applying", id, d.Status, d.ErrorMessage)
			}
		}
		return true
	}
	poll(hold+30*time.Second, "the installs held "+hold.String(), func() bool {
		return stillApplying() && time.Since(applyingSeen) >= hold
	})
	if !podExists("slow-ok-gate") || !podExists("slow-bad-gate") || configMapExists("slow-ok-config") || configMapExists("slow-bad-config") {
		t.Fatal("an install went past its hook before the hook finished")
	}
	t.Logf("installs held %v with applying reported; %d ready samples since %v before", time.Since(applyingSeen), readySamples, time.Since(readySince))

	// Released: one hook succeeds, the install completes; the other fails,
	// and Helm's reason reaches the API.
	finishPod(t, cs, ns, "slow-ok-gate", corev1.PodSucceeded)
	finishPod(t, cs, ns, "slow-bad-gate", corev1.PodFailed)
	poll(60*time.Second, "slow-ok installed and successful", func() bool {
		return configMapExists("slow-ok-config") && h.deploy(admin, okID).Status == 5
	})
	var bad deployView
	poll(60*time.Second, "slow-bad failed with its reason", func() bool {
		bad = h.deploy(admin, badID)
		return bad.Status == 7
	})
	if want := cluster + ": failed: failed pre-install"; !strings.HasPrefix(bad.ErrorMessage, want) || !strings.Contains(bad.ErrorMessage, "pod slow-bad-gate failed") {
		t.Fatalf("slow-bad's errorMessage is %q, want it to start with %q and name the failed hook pod", bad.ErrorMessage, want)
	}
	if configMapExists("slow-bad-config") {
		t.Fatal("the failed install made its objects")
	}
	t.Logf("outcomes reported %v after the deployments; %d ready samples over %v; slow-bad: %q", time.Since(start), readySamples, time.Since(readySince), bad.ErrorMessage)
}
