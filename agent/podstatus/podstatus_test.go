package podstatus

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
	"github.com/ote-stack/ote/test/harness"
)

func TestCounts(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	ctx := context.Background()
	cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns1"}}, metav1.CreateOptions{})
	labels := map[string]string{"ote-stack.io/deploy": "web"}
	three := int32(3)
	_, err := cs.AppsV1().Deployments("ns1").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := New(cs)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	w.Drain()
	pod := func(name string, phase corev1.PodPhase, ready bool, waiting string) {
		p, err := cs.CoreV1().Pods("ns1").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x:1"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status = corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}
		if waiting != "" {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}}}
		}
		if _, err := cs.CoreV1().Pods("ns1").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod("a", corev1.PodRunning, true, "")
	pod("b", corev1.PodPending, false, "ImagePullBackOff")
	pod("c", corev1.PodPending, false, "ContainerCreating")
	waitCounts(t, w, "", protocol.PodCounts{Desired: 3, Running: 1, Failed: 1})
	select {
	case <-w.Changed():
	default:
		t.Fatal("no change signalled")
	}
	if d := w.Drain(); len(d) != 1 || d[0] != "ns1/web" {
		t.Fatalf("drain %v", d)
	}
	if got := w.Counts("ns1", "other", ""); got != (protocol.PodCounts{}) {
		t.Fatalf("unknown workload %+v", got)
	}

	// A rolling update's old pod (another version's label) counts for
	// nothing at the new version: running, it does not make the new
	// version healthy.
	old, err := cs.CoreV1().Pods("ns1").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old",
		Labels: map[string]string{"ote-stack.io/deploy": "web", "ote-stack.io/version": "0.9"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x:0.9"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if _, err := cs.CoreV1().Pods("ns1").UpdateStatus(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, w, "0.9", protocol.PodCounts{Desired: 3, Running: 2, Failed: 1})
	if got := w.Counts("ns1", "web", "1.0"); got != (protocol.PodCounts{Desired: 3, Running: 1, Failed: 1}) {
		t.Fatalf("counts at 1.0 with a running 0.9 pod: %+v", got)
	}
}

// waitCounts polls ns1/web's counts at version until they are want, within
// ten seconds (the informers see the API server's changes a moment later).
func waitCounts(t *testing.T, w *Watcher, version string, want protocol.PodCounts) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := w.Counts("ns1", "web", version)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts at version %q: %+v, want %+v", version, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
