package apply

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ote-stack/ote/protocol"
)

// FetchChart returns the chart archive of a digest (from the hub).
type FetchChart func(ctx context.Context, digest string) ([]byte, error)

// Releases installs chart workloads as Helm releases through the Helm v3
// SDK: upgrade --install semantics, history kept in the namespace (Secrets,
// Helm's default driver), uninstall on delete. Archives are fetched once per
// digest, checked against it, and kept in memory. Helm acts in a namespace
// as that namespace's workload identity (WorkloadIdentity), never as the
// agent.
type Releases struct {
	// Config is the agent's; Helm impersonates the workload identity with it.
	Config *rest.Config
	// WorkloadRole is the ClusterRole bound to the workload identity in each
	// namespace; empty refuses charts.
	WorkloadRole string
	Fetch        FetchChart
	Log          *slog.Logger

	mu    sync.Mutex // guards cache
	cache map[string][]byte
	locks sync.Map // namespace/name → *sync.Mutex: one operation per release (hold)
}

// maxCachedCharts bounds the archives kept in memory.
const maxCachedCharts = 32

func (r *Releases) archive(ctx context.Context, digest string) ([]byte, error) {
	r.mu.Lock()
	if b, ok := r.cache[digest]; ok {
		r.mu.Unlock()
		return b, nil
	}
	r.mu.Unlock()
	if r.Fetch == nil {
		return nil, errors.New("no way to fetch charts from the hub")
	}
	b, err := r.Fetch(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s: %w", digest, err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		return nil, fmt.Errorf("chart from the hub has digest %s, want %s", got, digest)
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) >= maxCachedCharts {
		r.cache = map[string][]byte{}
	}
	r.cache[digest] = b
	r.mu.Unlock()
	return b, nil
}

func (r *Releases) config(namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) {
		if r.Log != nil {
			r.Log.Debug(fmt.Sprintf(format, v...), "namespace", namespace)
		}
	}
	getter := &restGetter{config: impersonating(r.Config, namespace), namespace: namespace}
	if err := cfg.Init(getter, namespace, "secret", logf); err != nil {
		return nil, err
	}
	return cfg, nil
}

// guardedConfig is config whose Kubernetes client refuses, before Helm
// sends anything to the API server, every object of a chart that is
// cluster-scoped or outside namespace. Helm builds every object it creates
// or updates through Client.Build (the release's manifests, its hooks, the
// CRDs of crds/, the targets of a rollback), so that is where they are
// judged.
func (r *Releases) guardedConfig(namespace string) (*action.Configuration, error) {
	cfg, err := r.config(namespace)
	if err != nil {
		return nil, err
	}
	kc, ok := cfg.KubeClient.(*kube.Client)
	if !ok {
		return nil, fmt.Errorf("helm's kubernetes client is a %T", cfg.KubeClient)
	}
	cfg.KubeClient = &namespacedClient{Client: kc, namespace: namespace}
	return cfg, nil
}

// namespacedClient is Helm's client with a Build that admits only objects
// of a namespaced kind in namespace. Embedding *kube.Client keeps the
// optional interfaces Helm looks for (waiting for deletes, logs,
// three-way merge).
type namespacedClient struct {
	*kube.Client
	namespace string
	// scopeOnly judges only where objects are, not what they hold: for an
	// uninstall, whose manifest objects are deleted, not made (its hooks
	// are judged in full before it starts).
	scopeOnly bool
	// current is the manifest of the release's deployed newest revision,
	// whose objects exist: an upgrade or a rollback builds it to compare and
	// to delete what the target drops, never to make it, so it is judged by
	// scope only, and a release made before a content rule can move on.
	current string
}

func (c *namespacedClient) Build(reader io.Reader, validate bool) (kube.ResourceList, error) {
	scopeOnly := c.scopeOnly
	if c.current != "" {
		b, err := io.ReadAll(reader)
		if err != nil {
			return nil, err
		}
		scopeOnly = scopeOnly || string(b) == c.current
		reader = bytes.NewReader(b)
	}
	list, err := c.Client.Build(reader, validate)
	if err != nil {
		return nil, err
	}
	for _, info := range list {
		if err := c.check(info, scopeOnly); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (c *namespacedClient) check(info *resource.Info, scopeOnly bool) error {
	if scopeOnly {
		_, err := checkChartScope(info, c.namespace)
		return err
	}
	return checkChartObject(info, c.namespace)
}

// checkRelease judges every object of a recorded release, its hooks
// included, as Build does, without sending anything. With deleting, the
// objects of the manifest are judged by scope only, as for an uninstall.
func (c *namespacedClient) checkRelease(rel *release.Release, deleting bool) error {
	check := func(m string, scopeOnly bool) error {
		if strings.TrimSpace(m) == "" {
			return nil
		}
		list, err := c.Client.Build(strings.NewReader(m), false)
		if err != nil {
			return err
		}
		for _, info := range list {
			if err := c.check(info, scopeOnly); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check(rel.Manifest, deleting); err != nil {
		return err
	}
	for _, h := range rel.Hooks {
		if err := check(h.Manifest, false); err != nil {
			return err
		}
	}
	return nil
}

// checkChartObject refuses an object of a chart that is cluster-scoped or
// in another namespace than the release's, or that holds what a chart may
// not (checkChartContent).
func checkChartObject(info *resource.Info, namespace string) error {
	kind, err := checkChartScope(info, namespace)
	if err != nil {
		return err
	}
	return checkChartContent(info, kind)
}

// checkChartScope refuses an object that is cluster-scoped or in another
// namespace than the release's, and returns its kind.
func checkChartScope(info *resource.Info, namespace string) (string, error) {
	kind := info.Object.GetObjectKind().GroupVersionKind().Kind
	if info.Mapping != nil {
		kind = info.Mapping.GroupVersionKind.Kind
		if info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return kind, fmt.Errorf("chart object %s %q is cluster-scoped: a chart may hold only namespaced objects of its release's namespace %s", kind, info.Name, namespace)
		}
	}
	if info.Namespace != namespace {
		return kind, fmt.Errorf("chart object %s %q is in namespace %q: a chart may hold only namespaced objects of its release's namespace %s", kind, info.Name, info.Namespace, namespace)
	}
	return kind, nil
}

// Install upgrades or installs release name in namespace with the chart.
func (r *Releases) Install(ctx context.Context, namespace, name string, spec *protocol.ChartSpec) error {
	defer r.hold(namespace, name)()
	b, err := r.archive(ctx, spec.Digest)
	if err != nil {
		return err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("load chart: %w", err)
	}
	if crds := ch.CRDObjects(); len(crds) > 0 {
		return fmt.Errorf("chart object %s is a CustomResourceDefinition: a chart may hold only namespaced objects of its release's namespace %s", crds[0].Filename, namespace)
	}
	if err := r.ensureIdentity(ctx, namespace); err != nil {
		return err
	}
	cfg, err := r.guardedConfig(namespace)
	if err != nil {
		return err
	}
	values := spec.Values
	if values == nil {
		values = map[string]any{}
	}
	labels := map[string]string{chartLabel: digestLabel(spec.Digest)}
	hist, err := action.NewHistory(cfg).Run(name)
	if err == nil {
		if hist, err = r.recoverInterrupted(cfg, namespace, name, hist); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return err
		}
	}
	if errors.Is(err, driver.ErrReleaseNotFound) {
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.Labels = name, namespace, labels
		in.SkipCRDs = true // refused above; never installed
		_, err = in.RunWithContext(ctx, ch, values)
		return err
	}
	if err != nil {
		return err
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version < hist[j].Version })
	cur := hist[len(hist)-1]
	if cur.Labels[chartLabel] == labels[chartLabel] && cur.Info != nil && cur.Info.Status == release.StatusDeployed {
		return nil // already there: a resync must not add a revision
	}
	if cur.Labels[chartLabel] == labels[chartLabel] && cur.Info != nil && cur.Info.Status == release.StatusFailed {
		// A retry of a chart that failed: an object refused then (a hook
		// that only ran at install, say) is refused again, rather than the
		// upgrade installing the rest.
		if err := cfg.KubeClient.(*namespacedClient).checkRelease(cur, false); err != nil {
			return err
		}
	}
	if cur.Info != nil && cur.Info.Status == release.StatusDeployed {
		cfg.KubeClient.(*namespacedClient).current = cur.Manifest
	}
	// A chart that ran before is a Helm rollback to its newest revision.
	for i := len(hist) - 2; i >= 0; i-- {
		if hist[i].Labels[chartLabel] == labels[chartLabel] {
			// The revision's record is a Secret of the namespace, which
			// its own workloads may have written: judged before use.
			if err := cfg.KubeClient.(*namespacedClient).checkRelease(hist[i], false); err != nil {
				return fmt.Errorf("revision %d of release %s: %w", hist[i].Version, name, err)
			}
			rb := action.NewRollback(cfg)
			rb.Version = hist[i].Version
			return rb.Run(name)
		}
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Labels = namespace, labels
	_, err = up.RunWithContext(ctx, name, ch, values)
	return err
}

// recoverInterrupted ends what an agent that stopped mid-operation (killed,
// evicted, its node lost) left pending: Helm refuses every operation on a
// release whose newest revision is pending-install, -upgrade or -rollback,
// for ever. No operation of this process holds the release here (Install
// holds its lock), and no other agent runs in the cluster (its chart runs
// one replica, with the Recreate strategy), so the pending revision is
// nobody's. An interrupted first install is
// uninstalled, so that the install that follows makes the release once, at
// revision 1; an interrupted upgrade or rollback is marked failed, and the
// upgrade or rollback that follows starts from there. It returns the
// history as it is now (driver.ErrReleaseNotFound when it is gone).
func (r *Releases) recoverInterrupted(cfg *action.Configuration, namespace, name string, hist []*release.Release) ([]*release.Release, error) {
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version < hist[j].Version })
	cur := hist[len(hist)-1]
	if cur.Info == nil || !cur.Info.Status.IsPending() {
		return hist, nil
	}
	if r.Log != nil {
		r.Log.Warn("release left pending by an interrupted operation; recovering", "namespace", namespace, "release", name,
			"revision", cur.Version, "status", cur.Info.Status)
	}
	if len(hist) == 1 && cur.Info.Status == release.StatusPendingInstall {
		if err := r.uninstall(namespace, name); err != nil {
			return nil, fmt.Errorf("remove the interrupted install of release %s: %w", name, err)
		}
		return nil, driver.ErrReleaseNotFound
	}
	cur.Info.Status = release.StatusFailed
	cur.Info.Description = "interrupted: the agent stopped during this operation"
	if err := cfg.Releases.Update(cur); err != nil {
		return nil, fmt.Errorf("mark the interrupted revision %d of release %s failed: %w", cur.Version, name, err)
	}
	return hist, nil
}

// chartLabel marks each Helm revision with the chart it installed, so that
// going back to a chart becomes a Helm rollback and a resync of the current
// chart changes nothing.
const chartLabel = "ote-stack.io/chart"

func digestLabel(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 40 {
		d = d[:40]
	}
	return d
}

// Uninstall removes release name; a release that is gone, or never was,
// is fine. Helm's storage (the release Secrets of the namespace) is listed
// first with the agent's own rights, so that applying a container app,
// which uninstalls a release of its name in case the item was a chart app,
// costs one list when there is none. A release's record (manifest and
// hooks) is judged like a chart before Helm acts on it: a record that the
// namespace's workloads forged is refused, not acted on. A release whose
// objects could not all be deleted stays recorded (uninstalling), so a
// retry deletes the rest.
func (r *Releases) Uninstall(namespace, name string) error {
	defer r.hold(namespace, name)()
	return r.uninstall(namespace, name)
}

// hold takes release name's lock and returns its release: one Helm
// operation per release at a time in this process. An apply that outlived
// its session (a straggler) may still run when the next session's resync
// asks for the same release: the second waits, then finds the release as
// the first left it, and recoverInterrupted never takes a live operation
// for an interrupted one.
func (r *Releases) hold(namespace, name string) (release func()) {
	l, _ := r.locks.LoadOrStore(namespace+"/"+name, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (r *Releases) uninstall(namespace, name string) error {
	ctx := context.Background()
	// The common case, a container app with no release of its name, costs
	// this one list (a namespace that is gone lists none).
	if has, err := r.hasRelease(ctx, namespace, name); err != nil || !has {
		return err
	}
	if gone, err := r.namespaceGone(ctx, namespace); err != nil || gone {
		return err
	}
	if err := r.ensureIdentity(ctx, namespace); err != nil {
		return err
	}
	cfg, err := r.guardedConfig(namespace)
	if err != nil {
		return err
	}
	hist, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(hist) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	// Helm uninstalls what the newest revision holds.
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version < hist[j].Version })
	last := hist[len(hist)-1]
	// Its hooks run (objects made) and its manifest is deleted: a release
	// that a chart could not have made, a record forged in the namespace,
	// is refused. What is only deleted is judged by scope, so that a
	// release made before a content rule (a NodePort Service, say) can
	// still go.
	kc := cfg.KubeClient.(*namespacedClient)
	if err := kc.checkRelease(last, true); err != nil {
		return fmt.Errorf("revision %d of release %s: %w", last.Version, name, err)
	}
	kc.scopeOnly = true
	_, err = action.NewUninstall(cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	return err
}

// restGetter hands Helm a rest.Config, the workload identity's (Helm wants
// a RESTClientGetter, which kubectl's flags usually provide).
type restGetter struct {
	config    *rest.Config
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.config))
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// hasRelease says whether Helm's storage in namespace holds a record of
// release name, listed with the agent's own rights (one list, no identity
// to set up) before anything acts as the namespace's workload identity.
func (r *Releases) hasRelease(ctx context.Context, namespace, name string) (bool, error) {
	cs, err := kubernetes.NewForConfig(r.Config)
	if err != nil {
		return false, err
	}
	l, err := cs.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{"owner": "helm", "name": name}.String(), Limit: 1})
	if err != nil {
		return false, fmt.Errorf("read release records: %w", err)
	}
	return len(l.Items) > 0, nil
}
