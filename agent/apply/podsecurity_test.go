package apply

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
)

// dryRunPod asks the API server whether it would admit a Pod of the
// Deployment's template in its namespace, as the ReplicaSet controller
// (which does not run here) would create it.
func dryRunPod(ctx context.Context, t *testing.T, ns, deployment string) error {
	t.Helper()
	d, err := client.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: deployment + "-probe", Namespace: ns, Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	_, err = client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// The namespace's Pod Security Admission labels follow the item, and a
// container workload at level restricted gets pods that a restricted
// namespace admits.
func TestPodSecurity(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	nsItem := func(rev uint64, level string) protocol.Item {
		labels := protocol.PodSecurityLabels(level)
		labels["ote-stack.io/business-id"] = "21"
		return item(protocol.ItemNamespace, "ns21", rev, protocol.NamespaceSpec{Labels: labels}, false)
	}
	if err := set.Apply(ctx, nsItem(1, protocol.PodSecurityRestricted)); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Namespaces().Get(ctx, "ns21", metav1.GetOptions{})
	if err != nil || got.Labels["pod-security.kubernetes.io/enforce"] != "restricted" || got.Labels["pod-security.kubernetes.io/warn"] != "restricted" ||
		got.Labels["pod-security.kubernetes.io/audit"] != "restricted" || got.Labels["pod-security.kubernetes.io/enforce-version"] != "latest" {
		t.Fatalf("namespace labels %v %v", got.Labels, err)
	}

	spec := workloadSpec("deployment", false)
	spec.Namespace, spec.NodeLabel = "ns21", ""
	spec.Container.Volumes = spec.Container.Volumes[:1] // emptyDir only
	spec.Container.GPU = 0

	checkRestricted := func(what string) {
		t.Helper()
		d, _ := client.AppsV1().Deployments("ns21").Get(ctx, "web", metav1.GetOptions{})
		psc, sc := d.Spec.Template.Spec.SecurityContext, d.Spec.Template.Spec.Containers[0].SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Fatalf("%s: pod securityContext %+v", what, psc)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Fatalf("%s: container securityContext %+v", what, sc)
		}
		if err := dryRunPod(ctx, t, "ns21", "web"); err != nil {
			t.Fatalf("%s: a restricted pod in a restricted namespace: %v", what, err)
		}
	}

	// Without a level (an item compiled by a hub from before the field, or
	// before the business had one) the agent goes by the namespace's
	// enforce label: the pods are restricted, and admitted.
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns21/web", 2, spec, false)); err != nil {
		t.Fatal(err)
	}
	checkRestricted("no level in the item")

	spec.PodSecurity = protocol.PodSecurityRestricted
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns21/web", 3, spec, false)); err != nil {
		t.Fatal(err)
	}
	checkRestricted("level restricted")

	// A level change relabels the namespace; a workload compiled at
	// privileged loses the securityContext (server-side apply drops what
	// the agent no longer sets).
	if err := set.Apply(ctx, nsItem(4, protocol.PodSecurityPrivileged)); err != nil {
		t.Fatal(err)
	}
	got, _ = client.CoreV1().Namespaces().Get(ctx, "ns21", metav1.GetOptions{})
	if got.Labels["pod-security.kubernetes.io/enforce"] != "privileged" || got.Labels["pod-security.kubernetes.io/audit"] != "privileged" {
		t.Fatalf("namespace labels after the change %v", got.Labels)
	}
	spec.PodSecurity = protocol.PodSecurityPrivileged
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns21/web", 5, spec, false)); err != nil {
		t.Fatal(err)
	}
	d, _ := client.AppsV1().Deployments("ns21").Get(ctx, "web", metav1.GetOptions{})
	if d.Spec.Template.Spec.Containers[0].SecurityContext != nil {
		t.Fatalf("securityContext stayed at privileged: %+v", d.Spec.Template.Spec.Containers[0].SecurityContext)
	}
	if err := dryRunPod(ctx, t, "ns21", "web"); err != nil {
		t.Fatalf("a pod in a privileged namespace: %v", err)
	}
}
