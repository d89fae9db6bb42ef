package apply

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/ote-stack/ote/protocol"
)

// The agent chart's names for release ote-agent in namespace ote-system.
const (
	testWorkloadRole = "ote-agent-ote-system-workloads"
	testAgentSA      = "ote-system/ote-agent"
)

var agentRBACOnce sync.Once

// installAgentRBAC creates, once, the objects of the agent chart's real
// rbac.yaml for release ote-agent in namespace ote-system, and the agent's
// credential Secret; it returns the workload role's name.
func installAgentRBAC(t *testing.T) string {
	t.Helper()
	agentRBACOnce.Do(func() {
		ctx := context.Background()
		ch, err := loader.LoadDir("../../charts/agent")
		if err != nil {
			t.Fatal(err)
		}
		vals, err := chartutil.ToRenderValues(ch, map[string]any{"bootstrapToken": "x", "hubUrl": "https://hub.example", "clusterName": "edge-1"},
			chartutil.ReleaseOptions{Name: "ote-agent", Namespace: "ote-system"}, chartutil.DefaultCapabilities)
		if err != nil {
			t.Fatal(err)
		}
		out, err := engine.Render(ch, vals)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ote-system"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		dec := scheme.Codecs.UniversalDeserializer()
		for _, doc := range strings.Split(out["ote-agent/templates/rbac.yaml"], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			obj, _, err := dec.Decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			switch o := obj.(type) {
			case *corev1.ServiceAccount:
				_, err = client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			case *rbacv1.ClusterRole:
				_, err = client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
			case *rbacv1.ClusterRoleBinding:
				_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			case *rbacv1.Role:
				_, err = client.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			case *rbacv1.RoleBinding:
				_, err = client.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			default:
				t.Fatalf("rbac.yaml makes a %T", obj)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.CoreV1().Secrets("ote-system").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ote-agent-credential"},
			StringData: map[string]string{"credential": "AGENT-SECRET-CRED", "cluster": "edge-1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	return testWorkloadRole
}

// agentConfig is a client configuration with the agent ServiceAccount's
// own token (not an impersonation, so that the agent's impersonate rights
// are what let Helm act as a workload identity).
func agentConfig(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	installAgentRBAC(t)
	tr, err := client.CoreV1().ServiceAccounts("ote-system").CreateToken(context.Background(), "ote-agent",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: restConfig.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: restConfig.CAData}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// eventually retries f until it succeeds or the deadline passes, as the
// agent retries an item while fresh RBAC reaches the authorizer.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for err := f(); err != nil; err = f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// businessNamespaces makes restricted business namespaces as the agent
// does, with the agent's own rights.
func businessNamespaces(t *testing.T, agent kubernetes.Interface, names ...string) {
	t.Helper()
	nsApplier := &Namespaces{Client: agent, Grant: Grant{ClusterRole: testWorkloadRole, ServiceAccount: testAgentSA}}
	for _, ns := range names {
		labels := protocol.PodSecurityLabels(protocol.PodSecurityRestricted)
		eventually(t, "namespace "+ns, func() error {
			return nsApplier.Apply(context.Background(), item(protocol.ItemNamespace, ns, 1, protocol.NamespaceSpec{Labels: labels}, false))
		})
	}
}

func agentReleases(cfg *rest.Config, archive []byte) *Releases {
	return &Releases{Config: cfg, WorkloadRole: testWorkloadRole, Fetch: func(context.Context, string) ([]byte, error) { return archive, nil }}
}

func chartSpec(name string, archive []byte) *protocol.ChartSpec {
	h := sha256.Sum256(archive)
	return &protocol.ChartSpec{Digest: "sha256:" + hex.EncodeToString(h[:]), Name: name, Version: "0.1.0", Size: int64(len(archive))}
}

func ptr[T any](v T) *T { return &v }

// C1: a chart's template lookup acts as its namespace's workload identity:
// it reads its own namespace, and neither another business's Secrets nor
// the agent's credential.
func TestChartLookupStaysInItsNamespace(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns41", "ns42")
	for ns, pw := range map[string]string{"ns41": "OWN-PASSWORD", "ns42": "VICTIM-REGISTRY-PASSWORD"} {
		if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ote-repo-hub1"},
			StringData: map[string]string{"password": pw}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lookupChart := func(name, ns, secret string) []byte {
		tpl := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n" +
			"  got: {{ (lookup \"v1\" \"Secret\" \"" + ns + "\" \"" + secret + "\").data | toJson | quote }}\n"
		return chartOf(t, name, map[string]string{"templates/cm.yaml": tpl})
	}

	// Its own namespace: lookup works.
	own := lookupChart("own", "ns41", "ote-repo-hub1")
	if err := agentReleases(agentCfg, own).Install(ctx, "ns41", "own", chartSpec("own", own)); err != nil {
		t.Fatalf("a lookup in the release's namespace: %v", err)
	}
	cm, err := client.CoreV1().ConfigMaps("ns41").Get(ctx, "own", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["got"], base64.StdEncoding.EncodeToString([]byte("OWN-PASSWORD"))) {
		t.Fatalf("own lookup: %v %v", cm.Data, err)
	}

	for _, tc := range []struct{ name, ns, secret, value string }{
		{"victim", "ns42", "ote-repo-hub1", "VICTIM-REGISTRY-PASSWORD"},
		{"cred", "ote-system", "ote-agent-credential", "AGENT-SECRET-CRED"},
	} {
		archive := lookupChart(tc.name, tc.ns, tc.secret)
		err := agentReleases(agentCfg, archive).Install(ctx, "ns41", tc.name, chartSpec(tc.name, archive))
		if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), WorkloadUser("ns41")) {
			t.Errorf("lookup of %s/%s: %v; want forbidden to %s", tc.ns, tc.secret, err, WorkloadUser("ns41"))
		}
		cms, _ := client.CoreV1().ConfigMaps("ns41").List(ctx, metav1.ListOptions{})
		for _, c := range cms.Items {
			if strings.Contains(c.Data["got"], base64.StdEncoding.EncodeToString([]byte(tc.value))) {
				t.Errorf("configmap %s holds %s/%s", c.Name, tc.ns, tc.secret)
			}
		}
	}
}

// C2: a chart may not hold RBAC objects (nor the rest of what the guard
// refuses); even past the guard, its identity may not bind anything, so
// that no ServiceAccount of a chart may relabel its namespace.
func TestChartMayNotGrantRights(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns43")
	rb := `apiVersion: v1
kind: ServiceAccount
metadata:
  name: evil
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: evil-agent
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ote-agent-ote-system}
subjects: [{kind: ServiceAccount, name: evil, namespace: ns43}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: evil-workloads
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ote-agent-ote-system-workloads}
subjects: [{kind: ServiceAccount, name: evil, namespace: ns43}]
`
	archive := chartOf(t, "rb", map[string]string{"templates/rb.yaml": rb})
	err := agentReleases(agentCfg, archive).Install(ctx, "ns43", "rb", chartSpec("rb", archive))
	if err == nil || !strings.Contains(err.Error(), `chart object RoleBinding "evil-`) || !strings.Contains(err.Error(), "is RBAC") {
		t.Fatalf("a chart with RoleBindings: %v", err)
	}

	// The guard off (Helm's own client, as the workload identity): the API
	// server refuses the bindings.
	r := agentReleases(agentCfg, archive)
	cfg, err := r.config("ns43")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadArchive(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = "rb-unguarded", "ns43"
	if _, err := in.Run(ch, map[string]any{}); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("an unguarded install of RoleBindings as the workload identity: %v", err)
	}
	for _, name := range []string{"evil-agent", "evil-workloads"} {
		if _, err := client.RbacV1().RoleBindings("ns43").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("rolebinding %s: %v", name, err)
		}
	}
	_, evil := asServiceAccount(t, restConfig, "ns43", "evil")
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)
	if _, err := evil.CoreV1().Namespaces().Patch(ctx, "ns43", types.MergePatchType, patch, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a chart's ServiceAccount relabels its namespace: %v", err)
	}

	// The identity alone, as the agent impersonates it.
	_, id := asServiceAccount(t, agentCfg, "ns43", WorkloadIdentity)
	if _, err := id.CoreV1().Secrets("ns43").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the identity lists its namespace's secrets: %v", err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "evil-direct"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: testWorkloadRole},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "evil", Namespace: "ns43"}}}
	for what, err := range map[string]error{
		"create a RoleBinding": func() error {
			_, err := id.RbacV1().RoleBindings("ns43").Create(ctx, binding, metav1.CreateOptions{})
			return err
		}(),
		"patch its namespace": func() error {
			_, err := id.CoreV1().Namespaces().Patch(ctx, "ns43", types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		}(),
		"read the agent's credential": func() error {
			_, err := id.CoreV1().Secrets("ote-system").Get(ctx, "ote-agent-credential", metav1.GetOptions{})
			return err
		}(),
		"list another namespace's secrets": func() error {
			_, err := id.CoreV1().Secrets("ns41").List(ctx, metav1.ListOptions{})
			return err
		}(),
		"make a ServiceAccount elsewhere": func() error {
			_, err := id.CoreV1().ServiceAccounts("ns41").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}(),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("the workload identity may %s: %v", what, err)
		}
	}
	// The agent may impersonate only workload identities.
	_, other := asServiceAccount(t, agentCfg, "ns43", "default")
	if _, err := other.CoreV1().ConfigMaps("ns43").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "impersonate") {
		t.Fatalf("the agent impersonates ns43/default: %v", err)
	}
	// The agent may change no RoleBinding but its two, and bind no role
	// but the workload role.
	if _, err := client.RbacV1().RoleBindings("ns43").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.RbacV1().RoleBindings("ns43").Patch(ctx, "evil-direct", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the agent patches RoleBinding evil-direct: %v", err)
	}
	admin := binding.DeepCopy()
	admin.Name, admin.RoleRef.Name = "evil-admin", "cluster-admin"
	if _, err := agent.RbacV1().RoleBindings("ns43").Create(ctx, admin, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the agent binds ClusterRole cluster-admin: %v", err)
	}
}

// asServiceAccount is cfg impersonating namespace/name.
func asServiceAccount(t *testing.T, cfg *rest.Config, namespace, name string) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + name}
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, cs
}

// The rest of what a chart may not hold, each refused naming the object.
func TestChartGuardRefusals(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns44")
	svc := func(extra string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n" + extra + "  ports: [{port: 80}]\n"
	}
	cases := []struct{ name, tpl, want string }{
		{"role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules: []\n", `chart object Role "r" is RBAC`},
		{"token", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tok\n  annotations: {kubernetes.io/service-account.name: ote-workloads}\ntype: kubernetes.io/service-account-token\n",
			`chart object Secret "tok" is a ServiceAccount token Secret`},
		{"helm-label", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: innocent\n  labels: {owner: helm, name: other}\n", `chart object Secret "innocent" looks like Helm's release records`},
		{"helm-name", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sh.helm.release.v1.other.v9\n", `chart object Secret "sh.helm.release.v1.other.v9" looks like Helm's release records`},
		{"nodeport", svc("  type: NodePort\n"), `chart object Service "web" is of type NodePort`},
		{"loadbalancer", svc("  type: LoadBalancer\n"), `chart object Service "web" is of type LoadBalancer`},
		{"externalips", svc("  externalIPs: [8.8.8.8]\n"), `chart object Service "web" has externalIPs`},
		{"identity", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ote-workloads\n", `chart object ServiceAccount "ote-workloads" is the agent's workload identity`},
		{"identity-pods", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n" +
			"    spec:\n      serviceAccountName: ote-workloads\n      containers: [{name: c, image: x}]\n", `chart object Deployment "d" runs its pods as ote-workloads`},
		{"identity-cronjob", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n" +
			"        spec:\n          serviceAccount: ote-workloads\n          restartPolicy: Never\n          containers: [{name: c, image: x}]\n", `chart object CronJob "cj" runs its pods as ote-workloads`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := chartOf(t, tc.name, map[string]string{"templates/cm.yaml": configMap(tc.name+"-first", ""), "templates/x.yaml": tc.tpl})
			err := agentReleases(agentCfg, archive).Install(ctx, "ns44", tc.name, chartSpec(tc.name, archive))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("install: %v; want %q", err, tc.want)
			}
			if _, err := client.CoreV1().ConfigMaps("ns44").Get(ctx, tc.name+"-first", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("a refused chart created its other objects: %v", err)
			}
		})
	}
	// A ClusterIP Service and a plain Secret install.
	fine := chartOf(t, "fine", map[string]string{"templates/svc.yaml": svc(""), "templates/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData: {k: v}\n"})
	if err := agentReleases(agentCfg, fine).Install(ctx, "ns44", "fine", chartSpec("fine", fine)); err != nil {
		t.Fatal(err)
	}
}

// C3: a Helm release record forged in the namespace (by its workloads, or
// by a chart were the guard to let it) does not make deleting the
// deployment act outside the namespace: the agent judges the record like a
// chart and refuses it, and even an unguarded Helm, as the workload
// identity, may not delete another namespace or bind in kube-system.
func TestForgedReleaseUninstall(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns45", "ns46")
	rel := &release.Release{Name: "forge", Namespace: "ns45", Version: 99, Info: &release.Info{Status: release.StatusDeployed},
		Manifest: "---\n# Source: x/templates/ns.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns46\n",
		Hooks: []*release.Hook{{Name: "h", Kind: "RoleBinding", Path: "x/templates/h.yaml", Events: []release.HookEvent{release.HookPreDelete}, DeletePolicies: []release.HookDeletePolicy{release.HookFailed},
			Manifest: "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: evil-in-kube-system\n  namespace: kube-system\n" +
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ote-agent-ote-system-workloads}\n" +
				"subjects: [{kind: ServiceAccount, name: evil, namespace: ns45}]\n"}}}
	js, _ := json.Marshal(rel)
	forged := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sh.helm.release.v1.forge.v99\n  labels: {owner: helm, name: forge, status: deployed, version: \"99\"}\n" +
		"type: helm.sh/release.v1\nstringData:\n  release: " + base64.StdEncoding.EncodeToString(js) + "\n"

	// As a chart: refused.
	archive := chartOf(t, "forge", map[string]string{"templates/s.yaml": forged})
	if err := agentReleases(agentCfg, archive).Install(ctx, "ns45", "forge", chartSpec("forge", archive)); err == nil || !strings.Contains(err.Error(), "looks like Helm's release records") {
		t.Fatalf("a chart forging a release: %v", err)
	}
	// As the namespace's workloads may (they hold Secrets rights there):
	// the record is written by the workload identity itself.
	_, id := asServiceAccount(t, agentCfg, "ns45", WorkloadIdentity)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.forge.v99", Labels: map[string]string{"owner": "helm", "name": "forge", "status": "deployed", "version": "99"}},
		Type: "helm.sh/release.v1", StringData: map[string]string{"release": base64.StdEncoding.EncodeToString(js)}}
	if _, err := id.CoreV1().Secrets("ns45").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Deleting the deployment.
	w := &Workloads{Client: agent, Helm: agentReleases(agentCfg, nil)}
	err := w.Apply(ctx, item(protocol.ItemWorkload, "ns45/forge", 2, nil, true))
	if err == nil || !strings.Contains(err.Error(), `chart object`) || !strings.Contains(err.Error(), "revision 99 of release forge") {
		t.Fatalf("deleting a deployment with a forged release: %v", err)
	}
	// Helm's own uninstall, unguarded, as the workload identity.
	cfg, err := agentReleases(agentCfg, nil).config("ns45")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := action.NewUninstall(cfg).Run("forge"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("an unguarded uninstall of the forged release: %v", err)
	}
	// A record without hooks: Helm gets as far as deleting the Namespace.
	rel.Name, rel.Hooks = "forge2", nil
	js, _ = json.Marshal(rel)
	sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.forge2.v99", Labels: map[string]string{"owner": "helm", "name": "forge2", "status": "deployed", "version": "99"}},
		Type: "helm.sh/release.v1", StringData: map[string]string{"release": base64.StdEncoding.EncodeToString(js)}}
	if _, err := id.CoreV1().Secrets("ns45").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, item(protocol.ItemWorkload, "ns45/forge2", 3, nil, true)); err == nil || !strings.Contains(err.Error(), `chart object Namespace "ns46" is cluster-scoped`) {
		t.Fatalf("deleting a deployment with a forged release: %v", err)
	}
	// (Helm keeps the API server's refusal to its log.)
	if _, err := action.NewUninstall(cfg).Run("forge2"); err == nil || !strings.Contains(err.Error(), "failed to delete release") {
		t.Fatalf("an unguarded uninstall of the forged release: %v", err)
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, "ns46", metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("the other business's namespace: %v %v", err, ns.DeletionTimestamp)
	}
	if _, err := client.RbacV1().RoleBindings("kube-system").Get(ctx, "evil-in-kube-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a binding in kube-system: %v", err)
	}
}

// A real chart installs, upgrades, rolls back and uninstalls as the
// workload identity, with the agent chart's RBAC.
func TestChartLifecycleAsWorkloadIdentity(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns47")
	v1 := chartOf(t, "app", map[string]string{"templates/cm.yaml": configMap("app-v1", "")})
	v2 := chartOf(t, "app", map[string]string{"templates/cm.yaml": configMap("app-v2", "")})
	for i, archive := range [][]byte{v1, v2, v1} {
		if err := agentReleases(agentCfg, archive).Install(ctx, "ns47", "app", chartSpec("app", archive)); err != nil {
			t.Fatalf("install #%d: %v", i+1, err)
		}
	}
	if _, err := client.CoreV1().ConfigMaps("ns47").Get(ctx, "app-v1", metav1.GetOptions{}); err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
	w := &Workloads{Client: agent, Helm: agentReleases(agentCfg, nil)}
	if err := w.Apply(ctx, item(protocol.ItemWorkload, "ns47/app", 4, nil, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps("ns47").Get(ctx, "app-v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the uninstall: %v", err)
	}
	if err := w.Apply(ctx, item(protocol.ItemWorkload, "ns47/app", 5, nil, true)); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	// A release made before the content rules (here by Helm unguarded, as
	// the identity) with a NodePort Service: it may move on to a chart
	// without one, not keep or get it back, and deleting the deployment
	// removes it.
	old := chartOf(t, "old", map[string]string{"templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: old\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n"})
	cfg, err := agentReleases(agentCfg, nil).config("ns47")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadArchive(strings.NewReader(string(old)))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = "old", "ns47"
	if _, err := in.Run(ch, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// Upgrading it to a chart that keeps the NodePort is refused, to one
	// without it works.
	keeps := chartOf(t, "old", map[string]string{"templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: old\nspec:\n  type: NodePort\n  ports: [{port: 80, name: http}]\n"})
	if err := agentReleases(agentCfg, keeps).Install(ctx, "ns47", "old", chartSpec("old", keeps)); err == nil || !strings.Contains(err.Error(), `chart object Service "old" is of type NodePort`) {
		t.Fatalf("an upgrade that keeps a NodePort: %v", err)
	}
	fixed := chartOf(t, "old", map[string]string{"templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: old-internal\nspec:\n  ports: [{port: 80}]\n"})
	if err := agentReleases(agentCfg, fixed).Install(ctx, "ns47", "old", chartSpec("old", fixed)); err != nil {
		t.Fatalf("an upgrade away from a NodePort: %v", err)
	}
	if _, err := client.CoreV1().Services("ns47").Get(ctx, "old", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the NodePort Service after the upgrade: %v", err)
	}
	// Nor back to the old chart (revision 1 has no chart label, so it is
	// an upgrade).
	if err := agentReleases(agentCfg, old).Install(ctx, "ns47", "old", chartSpec("old", old)); err == nil || !strings.Contains(err.Error(), `chart object Service "old" is of type NodePort`) {
		t.Fatalf("back to the NodePort chart: %v", err)
	}
	if err := w.Apply(ctx, item(protocol.ItemWorkload, "ns47/old", 6, nil, true)); err != nil {
		t.Fatalf("deleting a deployment from before the rules: %v", err)
	}
	if _, err := client.CoreV1().Services("ns47").Get(ctx, "old-internal", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("its Service: %v", err)
	}
	// Without a workload role, charts are refused.
	r := &Releases{Config: agentCfg, Fetch: func(context.Context, string) ([]byte, error) { return v1, nil }}
	if err := r.Install(ctx, "ns47", "app", chartSpec("app", v1)); err == nil || !strings.Contains(err.Error(), "no workload role") {
		t.Fatalf("install without a workload role: %v", err)
	}
}

// A rollback's target is a stored revision, which the namespace's
// workloads may have rewritten: it is judged like a chart first.
func TestForgedRollbackTarget(t *testing.T) {
	ctx := context.Background()
	agentCfg, agent := agentConfig(t)
	businessNamespaces(t, agent, "ns48")
	a := chartOf(t, "rb", map[string]string{"templates/cm.yaml": configMap("rb-a", "")})
	b := chartOf(t, "rb", map[string]string{"templates/cm.yaml": configMap("rb-b", "")})
	for _, archive := range [][]byte{a, b} {
		if err := agentReleases(agentCfg, archive).Install(ctx, "ns48", "rb", chartSpec("rb", archive)); err != nil {
			t.Fatal(err)
		}
	}
	// Revision 1 (chart a) rewritten to expose a node port.
	_, id := asServiceAccount(t, agentCfg, "ns48", WorkloadIdentity)
	if err := id.CoreV1().Secrets("ns48").Delete(ctx, "sh.helm.release.v1.rb.v1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{Name: "rb", Namespace: "ns48", Version: 1, Info: &release.Info{Status: release.StatusSuperseded},
		Manifest: "---\n# Source: rb/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: exposed\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n"}
	js, _ := json.Marshal(rel)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.rb.v1", Labels: map[string]string{"owner": "helm", "name": "rb", "status": "superseded", "version": "1",
		chartLabel: digestLabel(chartSpec("rb", a).Digest)}}, Type: "helm.sh/release.v1", StringData: map[string]string{"release": base64.StdEncoding.EncodeToString(js)}}
	if _, err := id.CoreV1().Secrets("ns48").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := agentReleases(agentCfg, a).Install(ctx, "ns48", "rb", chartSpec("rb", a))
	if err == nil || !strings.Contains(err.Error(), `revision 1 of release rb: chart object Service "exposed" is of type NodePort`) {
		t.Fatalf("a rollback to a rewritten revision: %v", err)
	}
	if _, err := client.CoreV1().Services("ns48").Get(ctx, "exposed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the rewritten revision's Service: %v", err)
	}
}
