package apply

import (
	"context"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
)

// TestDrifted: changes made with another field manager, as kubectl edit
// and kubectl scale make them, are found on the real API server with the
// manager named, and applying the workload again clears them.
func TestDrifted(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns61"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec := workloadSpec("deployment", false)
	spec.Namespace = "ns61"
	it := item(protocol.ItemWorkload, "ns61/web", 1, spec, false)
	if err := set.Apply(ctx, it); err != nil {
		t.Fatal(err)
	}
	deploys := client.AppsV1().Deployments("ns61")
	d, err := deploys.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := Drifted(d, &spec); len(got) != 0 {
		t.Fatalf("drift right after the apply: %+v", got)
	}

	d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/web:hacked"
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
	if _, err := deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := deploys.UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns61"},
		Spec: autoscalingv1.ScaleSpec{Replicas: 7}}, metav1.UpdateOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	if d, err = deploys.Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]protocol.Drift{}
	for _, x := range Drifted(d, &spec) {
		got[x.Field] = x
	}
	for field, want := range map[string]protocol.Drift{
		"spec.replicas": {Desired: "3", Actual: "7", Manager: "kubectl (scale)"},
		"spec.template.spec.containers[app].image": {Desired: "registry.example.com/web:1.0", Actual: "registry.example.com/web:hacked", Manager: "kubectl-edit"},
		"spec.template.spec.containers[app].env":   {Desired: "MODE", Actual: "MODE,+DEBUG", Manager: "kubectl-edit"},
	} {
		g, ok := got[field]
		// The API server records no time for an update of the scale
		// subresource.
		timed := g.At != 0 || want.Manager == "kubectl (scale)"
		if !ok || g.Desired != want.Desired || g.Actual != want.Actual || g.Manager != want.Manager || !timed || g.Object != "Deployment/web" {
			t.Errorf("%s: %+v, want %+v from Deployment/web with a time", field, g, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("drift %+v, want replicas, image and env", got)
	}

	// Applying again takes the fields back.
	if err := set.Apply(ctx, it); err != nil {
		t.Fatal(err)
	}
	if d, err = deploys.Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := Drifted(d, &spec); len(got) != 0 {
		t.Fatalf("drift after applying again: %+v", got)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/web:1.0" {
		t.Fatalf("applying again left replicas %d, image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}

	// With an autoscaler the replica count is not the agent's.
	hpa := workloadSpec("deployment", true)
	hpa.Namespace = "ns61"
	d.Spec.Replicas = new(int32)
	*d.Spec.Replicas = 5
	for _, x := range Drifted(d, &hpa) {
		if x.Field == "spec.replicas" {
			t.Errorf("replicas of an autoscaled deployment reported as drift: %+v", x)
		}
	}
	// Not the agent's object: no drift.
	d.Labels = nil
	if got := Drifted(d, &spec); got != nil {
		t.Errorf("drift of an object the agent did not make: %+v", got)
	}
}
