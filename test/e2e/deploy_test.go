package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/test/harness"
)

func deploymentImage(cs kubernetes.Interface, ns, name string) string {
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

type deployView struct {
	ID           uint64 `json:"id"`
	Status       int    `json:"status"`
	Version      string `json:"version"`
	ErrorMessage string `json:"errorMessage"`
}

func (h *hubProc) deploy(tok string, id uint64) deployView {
	h.t.Helper()
	var d deployView
	json.Unmarshal(h.must(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", id), tok, nil).Data, &d)
	return d
}

// audit decides the pending request of deployment id.
func (h *hubProc) audit(tok string, id uint64, status int) {
	h.t.Helper()
	var as []struct {
		ID       uint64 `json:"id"`
		DeployID uint64 `json:"deployId"`
		Status   int    `json:"status"`
	}
	json.Unmarshal(h.must(200, "GET", "/v1/admin/deploy?pageSize=100", tok, nil).Data, &as)
	for _, a := range as {
		if a.DeployID == id && a.Status == 0 {
			h.must(200, "PUT", "/v1/admin/deploy", tok, map[string]any{"id": a.ID, "status": status, "comment": "e2e"})
			return
		}
	}
	h.t.Fatalf("no pending request for deployment %d", id)
}

// fakePod creates a pod of workload name with the status a kubelet reports.
// Its spec is the workload's pod template when the workload exists, as the
// controller (which does not run here) would make it, so that the
// namespace's Pod Security Admission judges what the agent applied.
func fakePod(t *testing.T, cs kubernetes.Interface, ns, pod, workload string, ready bool, waiting string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: map[string]string{"ote-stack.io/deploy": workload}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1.0"}}},
	}
	if d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), workload, metav1.GetOptions{}); err == nil {
		p.Spec = d.Spec.Template.Spec
	} else if ds, err := cs.AppsV1().DaemonSets(ns).Get(context.Background(), workload, metav1.GetOptions{}); err == nil {
		p.Spec = ds.Spec.Template.Spec
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setPod(t, cs, ns, pod, ready, waiting)
}

func setPod(t *testing.T, cs kubernetes.Interface, ns, pod string, ready bool, waiting string) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: ready}}
	if waiting != "" {
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func containerApp(version string) map[string]any {
	return map[string]any{
		"appName": "web", "deployType": "deployment", "image": "registry.example.com/web:" + version, "version": version,
		"port": []map[string]any{{"containerPort": 8080, "servicePort": 80}}, "replicas": 2,
		"minCPU": 10, "maxCPU": 100, "minMemory": 64, "maxMemory": 128, "isHPA": false,
		"targetCPUUtilization": 0, "targetMemUtilization": 0, "maxUnavailable": 1, "maxSurge": 1, "minReadySeconds": 0,
	}
}

// TestDeployments: a general user's deployment of a container app, audited,
// lands in the clusters chosen by label, follows upgrade and rollback, reaches
// a cluster that is labelled later and one that was offline, and goes away.
func TestDeployments(t *testing.T) {
	apiA, apiB := harness.Start(t), harness.Start(t)
	csA, csB := apiA.Clientset(), apiB.Clientset()
	fakeNode(t, csA, "node-a1", 8, 32, 100, 0, "", true, "10.0.0.11")
	fakeNode(t, csB, "node-b1", 8, 32, 100, 0, "", true, "10.0.1.11")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	startAgent(t, h, apiA, "edge-a", bootstrap)
	agentB := startAgent(t, h, apiB, "edge-b", bootstrap)
	eventually(t, 30*time.Second, "both clusters ready", func() bool { return h.clusterReady(root, "edge-a") && h.clusterReady(root, "edge-b") })

	ns := h.approveBusiness(root, "acme")
	admin := h.login("acme", "Pw-acme9")
	h.must(200, "POST", "/v1/admin/user", admin, map[string]any{"user": "dev", "password": "Dev-pass1", "phone": "13800000000", "isAdmin": false, "realName": "Dev"})
	dev := h.login("dev", "Dev-pass1")
	for _, v := range []string{"1.0", "1.1"} {
		h.must(200, "POST", "/v1/app", dev, containerApp(v))
	}
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-a"}, "clusterLabel": "east"})
	h.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-a", "nodeName": []string{"node-a1"}, "nodeLabel": "web"})

	// Disapproved: nothing anywhere.
	var d deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", dev, map[string]any{"deployName": "rejected", "appName": "web", "version": "1.0", "cluster": "east", "nodeLabel": "web", "comment": "try"}).Data, &d)
	h.audit(admin, d.ID, 2)

	json.Unmarshal(h.must(200, "POST", "/v1/deploy", dev, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "east", "nodeLabel": "web", "comment": "go"}).Data, &d)
	// The positive signal: a change made after the deployment's creation
	// has reached edge-a (desired state flows in revision order).
	h.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-a", "nodeName": []string{"node-a1"}, "nodeLabel": "audited"})
	eventually(t, 30*time.Second, "a later label in edge-a", func() bool { v, ok := nodeLabel(csA, "node-a1", "audited"); return ok && v == "true" })
	if deploymentImage(csA, ns, "web") != "" {
		t.Fatal("a deployment waiting for audit reached the cluster")
	}
	h.audit(admin, d.ID, 1)
	// The agent applies the workload's objects one after the other: the
	// Deployment may be there before its Service.
	eventually(t, 30*time.Second, "web 1.0 and its Service in edge-a", func() bool {
		_, err := csA.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		return deploymentImage(csA, ns, "web") == "registry.example.com/web:1.0" && err == nil
	})
	dep, _ := csA.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if *dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.NodeSelector["label.ote-stack.io/web"] != "true" {
		t.Fatalf("deployment spec %+v", dep.Spec)
	}
	if svc, err := csA.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{}); err != nil || svc.Spec.Ports[0].Port != 80 {
		t.Fatalf("service: %v", err)
	}
	if deploymentImage(csA, ns, "rejected") != "" || deploymentImage(csB, ns, "web") != "" {
		t.Fatal("a workload went where it should not")
	}
	// No kubelet runs here: pods are made by hand with the status a kubelet
	// would report, and the hub's status follows them.
	eventually(t, 30*time.Second, "deploying, no pods yet", func() bool {
		got := h.deploy(dev, d.ID)
		return got.Status == 4 && strings.Contains(got.ErrorMessage, "edge-a: 0/2 pods running")
	})
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, csA, ns, p, "web", true, "")
	}
	eventually(t, 30*time.Second, "status success", func() bool {
		got := h.deploy(dev, d.ID)
		return got.Status == 5 && strings.Contains(got.ErrorMessage, "edge-a: 2/2 pods running")
	})
	for _, p := range []string{"web-1", "web-2"} {
		setPod(t, csA, ns, p, false, "CrashLoopBackOff")
	}
	eventually(t, 30*time.Second, "status failed", func() bool {
		got := h.deploy(dev, d.ID)
		return got.Status == 7 && strings.Contains(got.ErrorMessage, "edge-a: 0/2 pods running, 2 failed")
	})

	// A cluster labelled later gets the workload.
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-b"}, "clusterLabel": "east"})
	eventually(t, 30*time.Second, "web in edge-b", func() bool { return deploymentImage(csB, ns, "web") == "registry.example.com/web:1.0" })

	// An upgrade while edge-b's agent is down reaches it when it is back.
	agentB.kill()
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "1.1", "comment": "new"})
	h.audit(admin, d.ID, 1)
	eventually(t, 30*time.Second, "1.1 in edge-a", func() bool { return deploymentImage(csA, ns, "web") == "registry.example.com/web:1.1" })
	if deploymentImage(csB, ns, "web") != "registry.example.com/web:1.0" {
		t.Fatal("edge-b changed with no agent")
	}
	startAgent(t, h, apiB, "edge-b", bootstrap)
	eventually(t, 30*time.Second, "1.1 in edge-b", func() bool { return deploymentImage(csB, ns, "web") == "registry.example.com/web:1.1" })

	// Rollback restores the image everywhere.
	h.must(200, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), dev, map[string]any{"version": "1.0", "comment": "back"})
	h.audit(admin, d.ID, 1)
	eventually(t, 30*time.Second, "1.0 everywhere", func() bool {
		return deploymentImage(csA, ns, "web") == "registry.example.com/web:1.0" && deploymentImage(csB, ns, "web") == "registry.example.com/web:1.0"
	})

	// Deletion removes everything it made.
	h.must(200, "DELETE", "/v1/deploy/web", dev, nil)
	h.audit(admin, d.ID, 1)
	eventually(t, 30*time.Second, "workload gone", func() bool {
		_, errA := csA.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		return deploymentImage(csA, ns, "web") == "" && deploymentImage(csB, ns, "web") == "" && errA != nil
	})
	if got := h.deploy(dev, d.ID); got.Status != 9 {
		t.Fatalf("deleted deployment status %d", got.Status)
	}
}
