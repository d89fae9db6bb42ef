package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/test/harness"
)

// chartWith makes a chart archive named name with the given templates.
func chartWith(t *testing.T, name string, templates map[string]string) []byte {
	t.Helper()
	files := map[string]string{name + "/Chart.yaml": "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n", name + "/values.yaml": "nodeSelector: {}\n"}
	for f, body := range templates {
		files[name+"/templates/"+f] = body
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// privilegedPodChart is a chart whose one template is a bare privileged
// Pod, which the API server of a restricted namespace refuses at install.
func privilegedPodChart(t *testing.T) []byte {
	return chartWith(t, "rooted", map[string]string{"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-pod\nspec:\n" +
		"  hostPID: true\n  containers:\n    - name: shell\n      image: busybox:1.36\n      securityContext:\n        privileged: true\n"})
}

// TestPodSecurityAtTheEdge: a business's namespace carries the Pod Security
// Admission labels of its level in the real API server; a chart with a
// privileged Pod fails there with the API server's reason; a container app
// gets pods that a restricted namespace admits; the system administrator
// raises the level and the namespace's labels follow.
func TestPodSecurityAtTheEdge(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	ctx := context.Background()
	fakeNode(t, cs, "node-1", 4, 8, 50, 0, "", true, "10.0.0.31")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", "1s", "--enable-admin-auto-deploy")
	root := h.login("admin", "Root-pass1")
	startAgent(t, h, api, "edge-p", bootstrap)
	eventually(t, 30*time.Second, "cluster ready", func() bool { return h.clusterReady(root, "edge-p") })
	ns := h.approveBusiness(root, "secure")
	admin := h.login("secure", "Pw-secure9")
	var id uint64
	fmt.Sscanf(ns, "ns%d", &id)

	label := func(mode string) string {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return n.Labels["pod-security.kubernetes.io/"+mode]
	}
	eventually(t, 30*time.Second, "namespace labelled restricted", func() bool {
		return label("enforce") == "restricted" && label("warn") == "restricted" && label("audit") == "restricted"
	})

	// A hostPath container app is refused by the hub.
	app := containerApp("1.0")
	app["volume"] = []map[string]any{{"name": "host", "mountPath": "/host", "type": "hostPath", "hostPath": "/"}}
	if e := h.call("POST", "/v1/app", admin, app); e.status != 422 || !strings.Contains(e.Message, `volume[0].hostPath: hostPath volumes are forbidden by the business's pod security level "restricted"`) {
		t.Fatalf("hostPath app under restricted: %d %s", e.status, e.Message)
	}

	// A container app's pods are restricted: the API server admits a Pod
	// of its Deployment's template (the ReplicaSet controller, which would
	// make them, does not run here).
	h.must(200, "POST", "/v1/app", admin, containerApp("1.0"))
	h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "web", "appName": "web", "version": "1.0"})
	eventually(t, 60*time.Second, "restricted Deployment", func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		sc := d.Spec.Template.Spec.Containers[0].SecurityContext
		return sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && sc.Capabilities != nil &&
			len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL"
	})
	d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	psc := d.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Fatalf("pod securityContext %+v", psc)
	}
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-probe", Namespace: ns}, Spec: d.Spec.Template.Spec}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("the API server refuses the container app's pod: %v", err)
	}

	// A chart with a privileged bare Pod fails with the API server's reason.
	h.uploadChart(admin, "rooted", "1.0", privilegedPodChart(t))
	var dv deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "rooted", "appName": "rooted", "version": "1.0"}).Data, &dv)
	eventually(t, 60*time.Second, "chart deployment failed by PodSecurity", func() bool {
		dv = h.deploy(admin, dv.ID)
		return dv.Status == 7 && strings.Contains(dv.ErrorMessage, "edge-p: failed:") && strings.Contains(dv.ErrorMessage, "violates PodSecurity")
	})
	if !strings.Contains(dv.ErrorMessage, "privileged") || !strings.Contains(dv.ErrorMessage, "hostPID") {
		t.Fatalf("the failure does not say why: %s", dv.ErrorMessage)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "rooted-pod", metav1.GetOptions{}); err == nil {
		t.Fatal("the privileged pod was created")
	}

	// A chart that reaches outside its namespace fails, naming the object,
	// and nothing of it is created (the agent here runs with every right).
	h.uploadChart(admin, "grabber", "1.0", chartWith(t, "grabber", map[string]string{
		"cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: grabber-config\ndata:\n  k: v\n",
		"role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: grab-admin\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n  - kind: ServiceAccount\n    name: default\n    namespace: " + ns + "\n",
	}))
	var gv deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "grabber", "appName": "grabber", "version": "1.0"}).Data, &gv)
	eventually(t, 60*time.Second, "chart deployment refused by the agent", func() bool {
		gv = h.deploy(admin, gv.ID)
		return gv.Status == 7 && strings.Contains(gv.ErrorMessage, `chart object ClusterRoleBinding "grab-admin" is cluster-scoped`)
	})
	if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "grab-admin", metav1.GetOptions{}); err == nil {
		t.Fatal("the chart's ClusterRoleBinding was created")
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "grabber-config", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused chart's ConfigMap was created")
	}

	// The system administrator raises the level: the namespace's labels
	// change in the API server, and the chart's retry installs the pod.
	if e := h.call("PUT", fmt.Sprintf("/v1/business/id/%d", id), admin, map[string]any{"podSecurity": "privileged"}); e.status != 403 {
		t.Fatalf("a business administrator set the level: %d %s", e.status, e.Message)
	}
	var b struct{ PodSecurity string }
	json.Unmarshal(h.must(200, "PUT", fmt.Sprintf("/v1/business/id/%d", id), root, map[string]any{"podSecurity": "privileged"}).Data, &b)
	if b.PodSecurity != "privileged" {
		t.Fatalf("business after the change: %+v", b)
	}
	eventually(t, 30*time.Second, "namespace labelled privileged", func() bool {
		return label("enforce") == "privileged" && label("warn") == "privileged" && label("audit") == "privileged"
	})
	eventually(t, 90*time.Second, "the chart's pod installed once privileged", func() bool {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "rooted-pod", metav1.GetOptions{})
		return err == nil
	})
}
