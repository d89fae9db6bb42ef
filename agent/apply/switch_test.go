package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ote-stack/ote/protocol"
)

// switchChart is a chart whose objects have the release's name, as a
// container app's do: a Deployment (held by a finalizer when hold is set),
// a Service and a ConfigMap.
func switchChart(t *testing.T, hold bool) []byte {
	t.Helper()
	finalizer := ""
	if hold {
		finalizer = "  finalizers: [example.com/hold]\n"
	}
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n" + finalizer +
		"spec:\n  selector:\n    matchLabels: {chart: switch}\n  template:\n    metadata:\n      labels: {chart: switch}\n" +
		"    spec:\n      containers:\n        - name: c\n          image: registry.example.com/chart:1.0\n"
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {chart: switch}\n  ports:\n    - port: 81\n"
	return chartOf(t, "switch", map[string]string{
		"templates/deployment.yaml": dep,
		"templates/service.yaml":    svc,
		"templates/cm.yaml":         configMap("{{ .Release.Name }}-config", ""),
	})
}

// TestChartContainerSwitch: one workload item goes from a container app
// to a chart app and back, as an upgrade and a rollback to versions of the
// other kind make it. Each kind's objects replace the other's, objects of
// the same name included, and re-applying the chart (a resync, a restarted
// agent) leaves the release's objects alone.
func TestChartContainerSwitch(t *testing.T) {
	ctx := context.Background()
	const ns = "ns91"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	archives := map[string][]byte{}
	chartSpec := func(archive []byte) *protocol.ChartSpec {
		sum := sha256.Sum256(archive)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		archives[digest] = archive
		return &protocol.ChartSpec{Digest: digest, Name: "switch", Version: "0.1.0", Size: int64(len(archive))}
	}
	helm := &Releases{Config: restConfig, WorkloadRole: installAgentRBAC(t), Fetch: func(_ context.Context, digest string) ([]byte, error) { return archives[digest], nil }}
	set := NewSet(client, Options{Helm: helm})

	container := func(rev uint64, version string) protocol.Item {
		spec := workloadSpec("deployment", true)
		spec.Namespace, spec.Version = ns, version
		spec.Container.ImagePullSecret = ""
		spec.Container.Image = "registry.example.com/web:" + version
		return item(protocol.ItemWorkload, ns+"/web", rev, spec, false)
	}
	// Built once each: chartOf's archives differ from call to call.
	charts := map[bool]*protocol.ChartSpec{false: chartSpec(switchChart(t, false)), true: chartSpec(switchChart(t, true))}
	chart := func(rev uint64, hold bool) protocol.Item {
		spec := protocol.WorkloadSpec{Namespace: ns, Name: "web", App: "web", Version: "2.0", Chart: charts[hold]}
		return item(protocol.ItemWorkload, ns+"/web", rev, spec, false)
	}
	releaseRevisions := func() int {
		t.Helper()
		s, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=web"})
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Items)
	}
	// containerObjects checks that the agent's Deployment, Service and
	// autoscaler of image are there.
	containerObjects := func(image string) {
		t.Helper()
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != image || !madeFor(d, "web") || d.DeletionTimestamp != nil {
			t.Fatalf("deployment of the container app: %v", err)
		}
		if s, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || !madeFor(s, "web") {
			t.Fatalf("service of the container app: %v", err)
		}
		if _, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
			t.Fatalf("autoscaler of the container app: %v", err)
		}
	}
	// chartObjects checks that the release and its objects are there and
	// that nothing of the container app is left.
	chartObjects := func() {
		t.Helper()
		if n := releaseRevisions(); n == 0 {
			t.Fatal("no Helm release")
		}
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/chart:1.0" || d.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Fatalf("the chart's deployment: %v", err)
		}
		if s, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || s.Spec.Ports[0].Port != 81 {
			t.Fatalf("the chart's service: %v", err)
		}
		if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); err != nil {
			t.Fatalf("the chart's configmap: %v", err)
		}
		if _, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the container app's autoscaler stayed: %v", err)
		}
	}

	if err := set.Apply(ctx, container(1, "1.0")); err != nil {
		t.Fatal(err)
	}
	containerObjects("registry.example.com/web:1.0")
	if n := releaseRevisions(); n != 0 {
		t.Fatalf("%d release revisions before any chart", n)
	}

	// Container → chart: the Deployment, Service and autoscaler the agent
	// made go, and the chart installs objects of the same names.
	if err := set.Apply(ctx, chart(2, false)); err != nil {
		t.Fatal(err)
	}
	chartObjects()
	// Applied again (a resync, a retry, a restarted agent with a fresh
	// Releases), the chart's objects of the item's name stay.
	restarted := NewSet(client, Options{Helm: &Releases{Config: restConfig, WorkloadRole: helm.WorkloadRole, Fetch: helm.Fetch}})
	if err := restarted.Apply(ctx, chart(2, false)); err != nil {
		t.Fatal(err)
	}
	chartObjects()
	if n := releaseRevisions(); n != 1 {
		t.Fatalf("%d release revisions after a re-apply, want 1", n)
	}

	// Chart → container, by an agent that has never seen the chart: the
	// release is uninstalled and the agent's objects are back.
	if err := restarted.Apply(ctx, container(3, "1.0")); err != nil {
		t.Fatal(err)
	}
	containerObjects("registry.example.com/web:1.0")
	if n := releaseRevisions(); n != 0 {
		t.Fatalf("%d release revisions left after the switch to a container app", n)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the chart's configmap stayed: %v", err)
	}
	// Re-applying the container app finds no release and changes nothing.
	if err := set.Apply(ctx, container(3, "1.0")); err != nil {
		t.Fatal(err)
	}
	containerObjects("registry.example.com/web:1.0")

	// A chart's Deployment that a finalizer holds after the uninstall:
	// the container app fails, naming it, until the object is gone; the
	// retry then applies.
	if err := set.Apply(ctx, chart(4, true)); err != nil {
		t.Fatal(err)
	}
	chartObjects()
	err := set.Apply(ctx, container(5, "1.1"))
	if err == nil || !strings.Contains(err.Error(), "deployment "+ns+"/web is still being deleted") {
		t.Fatalf("container app over a terminating chart deployment: %v", err)
	}
	if n := releaseRevisions(); n != 0 {
		t.Fatalf("%d release revisions left", n)
	}
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := client.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := set.Apply(ctx, container(5, "1.1")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	containerObjects("registry.example.com/web:1.1")

	// A daemonset (no autoscaler) → chart: the DaemonSet goes too.
	ds := workloadSpec("daemonset", false)
	ds.Namespace, ds.Container.ImagePullSecret = ns, ""
	if err := set.Apply(ctx, item(protocol.ItemWorkload, ns+"/web", 6, ds, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().DaemonSets(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("daemonset: %v", err)
	}
	if err := set.Apply(ctx, chart(7, false)); err != nil {
		t.Fatal(err)
	}
	chartObjects()
	if _, err := client.AppsV1().DaemonSets(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the container app's daemonset stayed: %v", err)
	}

	// Deleting the item removes everything either kind made.
	if err := set.Apply(ctx, item(protocol.ItemWorkload, ns+"/web", 8, nil, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment after delete: %v", err)
	}
	if n := releaseRevisions(); n != 0 {
		t.Fatalf("%d release revisions after delete", n)
	}
}
