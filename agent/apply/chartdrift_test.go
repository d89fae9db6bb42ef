package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
)

const chartDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: db
          image: registry.example.com/db:1.0
`

// TestChartDrift: a chart's Deployment edited and scaled by others is
// found against the release manifest with the managers named, and Repair
// (a Helm rollback to the deployed revision) puts both back.
func TestChartDrift(t *testing.T) {
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns63"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	archive := chartOf(t, "db", map[string]string{"templates/deploy.yaml": chartDeployment})
	sum := sha256.Sum256(archive)
	r := &Releases{Config: restConfig, WorkloadRole: installAgentRBAC(t), Fetch: func(context.Context, string) ([]byte, error) { return archive, nil }}
	spec := &protocol.ChartSpec{Digest: "sha256:" + hex.EncodeToString(sum[:]), Name: "db", Version: "0.1.0", Size: int64(len(archive))}
	if err := r.Install(ctx, "ns63", "db", spec); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Drift(ctx, "ns63", "db"); err != nil || len(got) != 0 {
		t.Fatalf("drift right after the install: %+v %v", got, err)
	}
	if got, err := r.Drift(ctx, "ns63", "nothing"); err != nil || got != nil {
		t.Fatalf("drift of no release: %+v %v", got, err)
	}
	deploys := client.AppsV1().Deployments("ns63")
	d, err := deploys.Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/db:evil"
	if _, err := deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := deploys.UpdateScale(ctx, "db", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns63"},
		Spec: autoscalingv1.ScaleSpec{Replicas: 4}}, metav1.UpdateOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Drift(ctx, "ns63", "db")
	if err != nil {
		t.Fatal(err)
	}
	byField := map[string]protocol.Drift{}
	for _, x := range got {
		byField[x.Field] = x
	}
	if x := byField["spec.template.spec.containers[db].image"]; x.Manager != "kubectl-edit" || x.Actual != "registry.example.com/db:evil" ||
		x.Desired != "registry.example.com/db:1.0" || x.Object != "Deployment/db" || x.At == 0 {
		t.Errorf("image drift %+v", x)
	}
	if x := byField["spec.replicas"]; x.Manager != "kubectl (scale)" || x.Actual != "4" || x.Desired != "2" {
		t.Errorf("replicas drift %+v", x)
	}
	if len(got) != 2 {
		t.Errorf("drift %+v, want image and replicas", got)
	}

	if err := r.Repair(ctx, "ns63", "db"); err != nil {
		t.Fatal(err)
	}
	if d, err = deploys.Get(ctx, "db", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/db:1.0" {
		t.Fatalf("after Repair: %d replicas, image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	if got, err := r.Drift(ctx, "ns63", "db"); err != nil || len(got) != 0 {
		t.Fatalf("drift after Repair: %+v %v", got, err)
	}
	// The next resync of the same chart adds no revision.
	if err := r.Install(ctx, "ns63", "db", spec); err != nil {
		t.Fatal(err)
	}
}
