// Package charts tests the Helm charts: they load and render with the Helm
// v3 SDK, the API server accepts every object they make, and the agent's
// RBAC is enough for what the agent does.
package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/ote-stack/ote/agent/apply"
	"github.com/ote-stack/ote/agent/credential"
	"github.com/ote-stack/ote/agent/inventory"
	"github.com/ote-stack/ote/agent/podstatus"
	"github.com/ote-stack/ote/protocol"
	"github.com/ote-stack/ote/test/harness"
)

func render(t *testing.T, dir, namespace string, vals map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("load chart %s: %v", dir, err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatalf("chart %s: %v", dir, err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "r1", Namespace: namespace, IsInstall: true, Revision: 1}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for name, body := range files {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(body)), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, body)
			}
			if len(m) == 0 {
				continue
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs, nil
}

// create makes every object in the API server, which validates it.
func create(t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(cfg)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Create(context.Background(), o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("the API server refuses %s %s: %v", gvk.Kind, o.GetName(), err)
		}
	}
}

func kinds(objs []*unstructured.Unstructured) string {
	var k []string
	for _, o := range objs {
		k = append(k, o.GetKind())
	}
	return strings.Join(k, ",")
}

func TestAgentChart(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ote-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "agent", "ote-system", map[string]any{"hubUrl": "https://hub", "bootstrapToken": "x"}); err == nil || !strings.Contains(err.Error(), "clusterName") {
		t.Fatalf("a missing clusterName is not refused: %v", err)
	}
	objs, err := render(t, "agent", "ote-system", map[string]any{
		"hubUrl": "https://hub.example.com", "clusterName": "edge-1", "bootstrapToken": "boot-token-123456",
		"hubCA": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
	})
	if err != nil {
		t.Fatal(err)
	}
	create(t, api.Config, objs)
	for _, want := range []string{"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "ConfigMap"} {
		if !strings.Contains(kinds(objs), want) {
			t.Errorf("the chart makes no %s (%s)", want, kinds(objs))
		}
	}

	// The CA from an existing Secret (cert-manager's ca.crt) instead.
	fromSecret, err := render(t, "agent", "ote-system", map[string]any{
		"hubUrl": "https://hub.example.com", "clusterName": "edge-1", "bootstrapToken": "boot-token-123456", "hubCASecret": "hub-ca",
	})
	if m := manifests(fromSecret); err != nil || !strings.Contains(m, `"secretName":"hub-ca"`) || !strings.Contains(m, "OTE_HUB_CA") || strings.Contains(kinds(fromSecret), "ConfigMap") {
		t.Fatalf("hubCASecret: %v (%s)", err, kinds(fromSecret))
	}
	if _, err := render(t, "agent", "ote-system", map[string]any{
		"hubUrl": "https://hub.example.com", "clusterName": "edge-1", "bootstrapToken": "x", "hubCA": "pem", "hubCASecret": "hub-ca",
	}); err == nil || !strings.Contains(err.Error(), "hubCASecret") {
		t.Fatalf("hubCA and hubCASecret together are not refused: %v", err)
	}
	if _, err := render(t, "agent", "ote-system", map[string]any{
		"hubUrl": "http://hub.example.com", "clusterName": "edge-1", "bootstrapToken": "x", "hubCASecret": "hub-ca",
	}); err == nil || !strings.Contains(err.Error(), "https:// hubUrl") {
		t.Fatalf("a CA for a plain-HTTP hub is not refused: %v", err)
	}

	// Act as the agent's ServiceAccount: everything the agent does must be
	// allowed by the chart's RBAC.
	asAgent := rest.CopyConfig(api.Config)
	asAgent.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ote-system:ote-agent"}
	agentCS := kubernetes.NewForConfigOrDie(asAgent)
	store := credential.New(agentCS, "ote-system", "ote-agent-credential")
	// The API server's authorizer learns of new RBAC objects through its
	// informers: allow it a moment.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := store.Load(ctx, "edge-1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load credential: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := store.Save(ctx, "edge-1", "otec_x"); err != nil {
		t.Fatalf("save credential: %v", err)
	}
	if err := store.Save(ctx, "edge-1", "otec_y"); err != nil {
		t.Fatalf("update credential: %v", err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	inv := inventory.New(agentCS)
	if err := inv.Start(ctx); err != nil {
		t.Fatalf("watch nodes: %v", err)
	}
	inv.Stop()
	pods := podstatus.New(agentCS)
	if err := pods.Start(ctx); err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	pods.Stop()
	set := apply.NewSet(agentCS, apply.Options{Grant: apply.Grant{ClusterRole: "ote-agent-ote-system-workloads", ServiceAccount: "ote-system/ote-agent"}})
	workload, _ := json.Marshal(protocol.WorkloadSpec{Namespace: "ns1", Name: "web", App: "web", Version: "1.0", Container: &protocol.ContainerSpec{
		Kind: "deployment", Image: "x:1", Ports: []protocol.Port{{ContainerPort: 80, ServicePort: 80, Protocol: "TCP"}}, Replicas: 1,
		MinCPUMilli: 100, MaxCPUMilli: 200, MinMemoryMiB: 64, MaxMemoryMiB: 128, MaxSurge: 1,
		HPA: &protocol.HPASpec{MinReplicas: 1, MaxReplicas: 2, CPUPercent: 50},
	}})
	for _, it := range []protocol.Item{
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemNamespace, Name: "ns1"}, Revision: 1},
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemNodeLabel, Name: "n1/gpu"}, Revision: 2},
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemNodeLabel, Name: "n1/gpu"}, Revision: 3, Deleted: true},
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemWorkload, Name: "ns1/web"}, Revision: 4, Spec: workload},
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemWorkload, Name: "ns1/web"}, Revision: 5, Deleted: true},
		{ItemKey: protocol.ItemKey{Kind: protocol.ItemNamespace, Name: "ns1"}, Revision: 6, Deleted: true},
	} {
		// Like the agent, retry while fresh RoleBindings reach the authorizer.
		deadline := time.Now().Add(15 * time.Second)
		for err := set.Apply(ctx, it); err != nil; err = set.Apply(ctx, it) {
			if time.Now().After(deadline) {
				t.Fatalf("apply %s as the agent: %v", it.ItemKey, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The workload role names no cluster-scoped kind and no RBAC,
	// extension or webhook group, and lists the core group's resources.
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" || !strings.HasSuffix(o.GetName(), "-workloads") {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			for _, g := range groups {
				switch g {
				case "rbac.authorization.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io", "*":
					t.Errorf("the workload role grants group %q", g)
				case "":
					for _, res := range resources {
						switch res {
						case "*", "nodes", "persistentvolumes", "namespaces", "resourcequotas", "limitranges":
							t.Errorf("the workload role grants core resource %q", res)
						}
					}
				}
			}
		}
	}
	// And nothing more: other namespaces' secrets stay out of reach.
	if _, err := agentCS.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("the agent may list secrets of other namespaces")
	}
	// Helm acts as a namespace's workload identity, which the agent may
	// impersonate, and no other ServiceAccount; of RoleBindings it may
	// change only its two.
	for _, c := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "ns1", Name: apply.WorkloadIdentity}, true},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "ns1", Name: "default"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "kube-system", Name: "default"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users", Name: "admin"}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "ns1", Name: apply.WorkloadIdentity}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "ns1", Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "ns1", Name: apply.WorkloadIdentity}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "ns1", Name: apply.WorkloadIdentity}, false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:ote-system:ote-agent",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ote-system", "system:authenticated"}, ResourceAttributes: &c.attrs}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed != c.want {
			t.Errorf("the agent may %s %s %s/%s: %v, want %v", c.attrs.Verb, c.attrs.Resource, c.attrs.Namespace, c.attrs.Name, res.Status.Allowed, c.want)
		}
	}
}

func TestHubChart(t *testing.T) {
	api := harness.Start(t)
	ctx := context.Background()
	if _, err := api.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ote"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "hub", "ote", map[string]any{"replicas": 2}); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("two replicas on SQLite are not refused: %v", err)
	}
	objs, err := render(t, "hub", "ote", map[string]any{
		"admin":   map[string]any{"password": "Root-pass1"},
		"ingress": map[string]any{"enabled": true, "host": "ote.example.com", "tlsSecret": "ote-tls"},
	})
	if err != nil {
		t.Fatal(err)
	}
	create(t, api.Config, objs)
	for _, want := range []string{"Deployment", "Service", "Secret", "PersistentVolumeClaim", "Ingress"} {
		if !strings.Contains(kinds(objs), want) {
			t.Errorf("the chart makes no %s (%s)", want, kinds(objs))
		}
	}
	sec, err := api.Clientset().CoreV1().Secrets("ote").Get(ctx, "ote-hub-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Data["jwt-key"]) < 32 || len(sec.Data["secret-key"]) < 32 || len(sec.Data["agent-bootstrap-token"]) < 16 || string(sec.Data["admin-password"]) != "Root-pass1" {
		t.Fatalf("generated secrets too short or missing: %d %d", len(sec.Data["jwt-key"]), len(sec.Data["agent-bootstrap-token"]))
	}
	svc, err := api.Clientset().CoreV1().Services("ote").Get(ctx, "ote-hub", metav1.GetOptions{})
	if err != nil || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Name != "registry" || svc.Spec.Ports[1].Port != 5000 {
		t.Fatalf("the Service does not expose the embedded registry: %v %+v", err, svc)
	}
	tlsObjs, err := render(t, "hub", "ote", map[string]any{"registry": map[string]any{"host": "registry.example.com", "tlsSecret": "registry-tls"}})
	if err != nil || !strings.Contains(manifests(tlsObjs), "OTE_REGISTRY_TLS_CERT") || !strings.Contains(manifests(tlsObjs), `"secretName":"registry-tls"`) {
		t.Fatalf("registry TLS: %v", err)
	}
	// The hub serving TLS itself: the Secret mounted as a directory (so that
	// renewals reach the files), the flags, probes and Ingress over HTTPS.
	hubTLS, err := render(t, "hub", "ote", map[string]any{
		"tls":     map[string]any{"secretName": "hub-tls"},
		"ingress": map[string]any{"enabled": true, "host": "ote.example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"secretName":"hub-tls"`, `"name":"OTE_TLS_CERT","value":"/etc/ote/tls/tls.crt"`, `"name":"OTE_TLS_KEY","value":"/etc/ote/tls/tls.key"`,
		`"mountPath":"/etc/ote/tls"`, `"scheme":"HTTPS"`, `"nginx.ingress.kubernetes.io/backend-protocol":"HTTPS"`, `"prometheus.io/scheme":"https"`} {
		if !strings.Contains(manifests(hubTLS), want) {
			t.Errorf("tls.secretName: the manifests lack %s", want)
		}
	}
	proxied, err := render(t, "hub", "ote", map[string]any{"trustedProxies": "10.244.0.0/16"})
	if err != nil || !strings.Contains(manifests(proxied), `"name":"OTE_TRUSTED_PROXIES","value":"10.244.0.0/16"`) ||
		!strings.Contains(manifests(proxied), `"name":"OTE_PROXY_HEADER","value":"X-Real-IP"`) {
		t.Fatalf("trustedProxies: %v", err)
	}
	if strings.Contains(manifests(objs), "OTE_TRUSTED_PROXIES") {
		t.Error("without trustedProxies the hub is told to trust proxies")
	}
	if m := manifests(objs); strings.Contains(m, "OTE_TLS_CERT") || strings.Contains(m, `"scheme":"HTTPS"`) {
		t.Error("without tls.secretName the hub is given TLS settings")
	}
	pgValues := map[string]any{"replicas": 3, "database": map[string]any{"url": "postgres://u:p@db/ote"}, "persistence": map[string]any{"enabled": false}}
	if _, err := render(t, "hub", "ote", pgValues); err == nil || !strings.Contains(err.Error(), "external registry") {
		t.Fatalf("three replicas with the embedded registry are not refused: %v", err)
	}
	pgValues["registry"] = map[string]any{"embedded": false, "url": "https://registry.example.com"}
	pg, err := render(t, "hub", "ote", pgValues)
	if err != nil || strings.Contains(kinds(pg), "PersistentVolumeClaim") || !strings.Contains(manifests(pg), "OTE_REGISTRY_URL") {
		t.Fatalf("PostgreSQL with three replicas: %v (%s)", err, kinds(pg))
	}
}

// manifests is the JSON of rendered objects, for looking into.
func manifests(objs []*unstructured.Unstructured) string {
	var b strings.Builder
	for _, o := range objs {
		j, _ := o.MarshalJSON()
		b.Write(j)
	}
	return b.String()
}
