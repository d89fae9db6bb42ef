package apply

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
)

// checkChartContent refuses, within the release's namespace, what a chart
// may not hold: RBAC objects (a chart grants no rights), the agent's
// workload identity or pods running as it, ServiceAccount token Secrets,
// records that would pass for Helm's own release history, and Services
// that reach beyond the cluster network (node ports, load balancers,
// external IPs: CVE-2020-8554).
func checkChartContent(info *resource.Info, kind string) error {
	gvk := info.Object.GetObjectKind().GroupVersionKind()
	if info.Mapping != nil {
		gvk = info.Mapping.GroupVersionKind
	}
	refuse := func(why string) error {
		return fmt.Errorf("chart object %s %q %s", kind, info.Name, why)
	}
	if gvk.Group == "rbac.authorization.k8s.io" {
		return refuse("is RBAC (rbac.authorization.k8s.io): a chart may not grant rights")
	}
	obj, err := contentOf(info.Object)
	if err != nil {
		return refuse(fmt.Sprintf("cannot be read: %v", err))
	}
	u := &unstructured.Unstructured{Object: obj}
	if gvk.Group == "" {
		switch gvk.Kind {
		case "ServiceAccount":
			if info.Name == WorkloadIdentity {
				return refuse("is the agent's workload identity: a chart may not make or change it")
			}
		case "Secret", "ConfigMap":
			typ, _, _ := unstructured.NestedString(obj, "type")
			if typ == "kubernetes.io/service-account-token" {
				return refuse("is a ServiceAccount token Secret: a chart may not mint tokens")
			}
			if u.GetLabels()["owner"] == "helm" || typ == "helm.sh/release.v1" || strings.HasPrefix(info.Name, "sh.helm.release.") {
				return refuse("looks like Helm's release records (label owner=helm, type helm.sh/release.v1 or name sh.helm.release.*): a chart may not write them")
			}
		case "Service":
			typ, _, _ := unstructured.NestedString(obj, "spec", "type")
			if typ == "NodePort" || typ == "LoadBalancer" {
				return refuse(fmt.Sprintf("is of type %s: a chart's Services are ClusterIP (or headless or ExternalName), node ports and load balancers reach beyond its namespace", typ))
			}
			if ips, _, _ := unstructured.NestedSlice(obj, "spec", "externalIPs"); len(ips) > 0 {
				return refuse("has externalIPs (CVE-2020-8554): a chart may not claim addresses for the cluster")
			}
		}
	}
	for _, path := range podSpecPaths(gvk.Group, gvk.Kind) {
		for _, field := range []string{"serviceAccountName", "serviceAccount"} {
			if sa, _, _ := unstructured.NestedString(obj, append(path, field)...); sa == WorkloadIdentity {
				return refuse(fmt.Sprintf("runs its pods as %s, the agent's workload identity: a chart's pods may not", WorkloadIdentity))
			}
		}
	}
	return nil
}

// podSpecPaths are where objects of a kind keep a pod spec.
func podSpecPaths(group, kind string) [][]string {
	switch {
	case group == "" && kind == "Pod":
		return [][]string{{"spec"}}
	case group == "" && kind == "PodTemplate":
		return [][]string{{"template", "spec"}}
	case group == "batch" && kind == "CronJob":
		return [][]string{{"spec", "jobTemplate", "spec", "template", "spec"}}
	}
	// Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
	// ReplicationControllers, and any kind shaped like them.
	return [][]string{{"spec", "template", "spec"}}
}

func contentOf(obj runtime.Object) (map[string]any, error) {
	if u, ok := obj.(runtime.Unstructured); ok {
		return u.UnstructuredContent(), nil
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}

// namespaceGone is true when namespace does not exist or is being deleted:
// its releases go with it, and nothing is made there any more.
func (r *Releases) namespaceGone(ctx context.Context, namespace string) (bool, error) {
	cs, err := kubernetes.NewForConfig(r.Config)
	if err != nil {
		return false, err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return ns.DeletionTimestamp != nil, nil
}
