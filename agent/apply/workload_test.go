package apply

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
)

func workloadSpec(kind string, hpa bool) protocol.WorkloadSpec {
	c := &protocol.ContainerSpec{
		Kind: kind, Image: "registry.example.com/web:1.0", ImagePullSecret: "ote-repo-private",
		Ports:    []protocol.Port{{Name: "http", ContainerPort: 8080, ServicePort: 80, Protocol: "TCP"}, {ContainerPort: 9000, ServicePort: 9000, Protocol: "UDP"}},
		Command:  []string{"/app", "--greeting", "hello world"},
		Env:      []protocol.EnvVar{{Name: "MODE", Value: "edge"}},
		Volumes:  []protocol.Volume{{Name: "cache", MountPath: "/cache", Type: "emptyDir"}, {Name: "models", MountPath: "/models", Type: "hostPath", HostPath: "/data/models", ReadOnly: true}},
		Replicas: 3, MinCPUMilli: 500, MaxCPUMilli: 2000, MinMemoryMiB: 128, MaxMemoryMiB: 512, GPU: 1,
		MaxUnavailable: 0, MaxSurge: 1, MinReadySeconds: 5,
	}
	if hpa {
		c.HPA = &protocol.HPASpec{MinReplicas: 2, MaxReplicas: 6, CPUPercent: 70}
	}
	return protocol.WorkloadSpec{Namespace: "ns5", Name: "web", App: "web", Version: "1.0", NodeLabel: "gpu", Container: c}
}

func TestContainerWorkloads(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns5"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns5/web", 1, workloadSpec("deployment", true), false)); err != nil {
		t.Fatal(err)
	}
	d, err := client.AppsV1().Deployments("ns5").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "registry.example.com/web:1.0" || strings.Join(c.Command, "|") != "/app|--greeting|hello world" ||
		c.Env[0].Name != "MODE" || c.Env[0].Value != "edge" || c.Ports[0].ContainerPort != 8080 || c.Ports[1].Protocol != corev1.ProtocolUDP {
		t.Fatalf("container %+v", c)
	}
	if c.Resources.Requests.Cpu().MilliValue() != 500 || c.Resources.Limits.Cpu().MilliValue() != 2000 ||
		c.Resources.Requests.Memory().Value() != 128<<20 || c.Resources.Limits.Memory().Value() != 512<<20 {
		t.Fatalf("resources %+v", c.Resources)
	}
	if gpu := c.Resources.Limits["nvidia.com/gpu"]; gpu.Value() != 1 {
		t.Fatalf("gpu limit %v", gpu)
	}
	if pod.NodeSelector["label.ote-stack.io/gpu"] != "true" || pod.ImagePullSecrets[0].Name != "ote-repo-private" {
		t.Fatalf("placement %+v %+v", pod.NodeSelector, pod.ImagePullSecrets)
	}
	if len(pod.Volumes) != 2 || pod.Volumes[1].HostPath.Path != "/data/models" || pod.Volumes[0].EmptyDir == nil || !c.VolumeMounts[1].ReadOnly {
		t.Fatalf("volumes %+v mounts %+v", pod.Volumes, c.VolumeMounts)
	}
	if d.Spec.MinReadySeconds != 5 || d.Spec.Strategy.RollingUpdate.MaxSurge.IntValue() != 1 || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Fatalf("rollout %+v", d.Spec.Strategy)
	}
	if d.Labels[LabelVersion] != "1.0" || d.Labels["app.kubernetes.io/managed-by"] != "ote-agent" {
		t.Fatalf("labels %v", d.Labels)
	}
	svc, err := client.CoreV1().Services("ns5").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 || svc.Spec.Selector[LabelDeploy] != "web" {
		t.Fatalf("service %+v %v", svc.Spec, err)
	}
	hpa, err := client.AutoscalingV2().HorizontalPodAutoscalers("ns5").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 6 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Fatalf("hpa %+v %v", hpa, err)
	}

	// The same workload as a daemonset: the Deployment and the autoscaler go.
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns5/web", 2, workloadSpec("daemonset", false), false)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments("ns5").Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Fatal("the Deployment stayed after the switch to a daemonset")
	}
	if _, err := client.AutoscalingV2().HorizontalPodAutoscalers("ns5").Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Fatal("the autoscaler stayed")
	}
	if ds, err := client.AppsV1().DaemonSets("ns5").Get(ctx, "web", metav1.GetOptions{}); err != nil || ds.Spec.Template.Spec.Containers[0].Image != "registry.example.com/web:1.0" {
		t.Fatalf("daemonset: %v", err)
	}

	// A spec the API server rejects fails with the server's reason.
	bad := workloadSpec("deployment", false)
	bad.Container.Ports[0].Name = "Not_A_Valid_Port_Name"
	err = set.Apply(ctx, item(protocol.ItemWorkload, "ns5/broken", 3, bad, false))
	if err == nil || !strings.Contains(err.Error(), "Invalid") {
		t.Fatalf("rejected spec: %v", err)
	}

	// Deletion removes everything, and deleting again is fine.
	for i := 0; i < 2; i++ {
		if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns5/web", 4, nil, true)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.AppsV1().DaemonSets("ns5").Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Fatal("daemonset not deleted")
	}
	if _, err := client.CoreV1().Services("ns5").Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Fatal("service not deleted")
	}
}

func TestPullSecretFromTheHub(t *testing.T) {
	ctx := context.Background()
	client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns6"}}, metav1.CreateOptions{})
	var asked string
	set := NewSet(client, Options{FetchPullSecret: func(_ context.Context, ns, repo string) ([]byte, error) {
		asked = ns + "/" + repo
		return []byte(`{"auths":{"r.example.com":{"username":"u","password":"p","auth":"dTpw"}}}`), nil
	}})
	spec := workloadSpec("deployment", false)
	spec.Namespace = "ns6"
	spec.Container.PullSecret = &protocol.PullSecretRef{RepositoryID: "private", Fingerprint: "f1"}
	if err := set.Apply(ctx, item(protocol.ItemWorkload, "ns6/web", 1, spec, false)); err != nil {
		t.Fatal(err)
	}
	sec, err := client.CoreV1().Secrets("ns6").Get(ctx, "ote-repo-private", metav1.GetOptions{})
	if err != nil || asked != "ns6/private" || sec.Type != corev1.SecretTypeDockerConfigJson ||
		!strings.Contains(string(sec.Data[corev1.DockerConfigJsonKey]), `"r.example.com"`) || sec.Annotations["ote-stack.io/fingerprint"] != "f1" {
		t.Fatalf("pull secret %+v %v (asked %q)", sec, err, asked)
	}
	d, _ := client.AppsV1().Deployments("ns6").Get(ctx, "web", metav1.GetOptions{})
	if d.Spec.Template.Spec.ImagePullSecrets[0].Name != "ote-repo-private" {
		t.Fatalf("pod does not reference the secret: %+v", d.Spec.Template.Spec.ImagePullSecrets)
	}
	// Without a way to fetch credentials the workload fails clearly.
	if err := NewSet(client, Options{}).Apply(ctx, item(protocol.ItemWorkload, "ns6/web", 2, spec, false)); err == nil || !strings.Contains(err.Error(), "pull credentials") {
		t.Fatalf("no fetcher: %v", err)
	}
}
