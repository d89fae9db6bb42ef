// Package podstatus counts the pods of the agent's workloads (pods labelled
// ote-stack.io/deploy) with client-go informers, says which workloads'
// pods or objects changed, so that the agent reports them to the hub, and
// finds out-of-band changes of their Deployments and DaemonSets (drift).
package podstatus

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ote-stack/ote/agent/apply"
	"github.com/ote-stack/ote/protocol"
)

// Waiting reasons that mean a pod cannot start on its own.
var failingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"CreateContainerConfigError": true, "InvalidImageName": true, "CreateContainerError": true,
}

// Watcher counts pods per workload ("<namespace>/<name>").
type Watcher struct {
	factory informers.SharedInformerFactory
	pods    listerscorev1.PodLister
	deploys appslisters.DeploymentLister
	daemons appslisters.DaemonSetLister
	synced  []cache.InformerSynced
	cancel  context.CancelFunc

	changed chan struct{} // cap 1

	mu    sync.Mutex // guards dirty
	dirty map[string]bool
}

// New watches the OTE-managed pods and deployments of client's cluster.
func New(client kubernetes.Interface) *Watcher {
	f := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = apply.LabelDeploy }))
	w := &Watcher{factory: f, changed: make(chan struct{}, 1), dirty: map[string]bool{}}
	pods := f.Core().V1().Pods()
	deploys := f.Apps().V1().Deployments()
	daemons := f.Apps().V1().DaemonSets()
	w.pods, w.deploys, w.daemons = pods.Lister(), deploys.Lister(), daemons.Lister()
	w.synced = []cache.InformerSynced{pods.Informer().HasSynced, deploys.Informer().HasSynced, daemons.Informer().HasSynced}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    w.mark,
		UpdateFunc: func(_, obj any) { w.mark(obj) },
		DeleteFunc: w.mark,
	}
	_, _ = pods.Informer().AddEventHandler(h)
	_, _ = deploys.Informer().AddEventHandler(h)
	_, _ = daemons.Informer().AddEventHandler(h)
	return w
}

// Start runs the informers until Stop and waits for their first lists.
func (w *Watcher) Start(ctx context.Context) error {
	ctx, w.cancel = context.WithCancel(ctx)
	w.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return fmt.Errorf("pod informers did not sync")
	}
	return nil
}

// Stop ends the informers and waits for them.
func (w *Watcher) Stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.factory.Shutdown()
}

func (w *Watcher) mark(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	var ns string
	var l map[string]string
	switch o := obj.(type) {
	case *corev1.Pod:
		ns, l = o.Namespace, o.Labels
	case interface {
		GetNamespace() string
		GetLabels() map[string]string
	}:
		ns, l = o.GetNamespace(), o.GetLabels()
	default:
		return
	}
	name := l[apply.LabelDeploy]
	if name == "" {
		return
	}
	w.mu.Lock()
	w.dirty[ns+"/"+name] = true
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Changed signals that Drain has workloads.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Drain returns the workloads whose pods changed since the last Drain.
func (w *Watcher) Drain() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.dirty))
	for k := range w.dirty {
		out = append(out, k)
	}
	w.dirty = map[string]bool{}
	return out
}

// Counts counts the pods of workload ns/name at version (the app version
// applied): a pod labelled with another version is one of the rolling
// update's old pods and does not count, so that a workload is healthy once
// the version it was sent runs, not while its predecessor still does.
// Pods without a version label count whatever the version. Desired is the
// Deployment's replicas; for a daemonset or an autoscaled deployment it is
// the pods of the version that exist.
func (w *Watcher) Counts(ns, name, version string) protocol.PodCounts {
	sel := labels.SelectorFromSet(labels.Set{apply.LabelDeploy: name})
	pods, _ := w.pods.Pods(ns).List(sel)
	var c protocol.PodCounts
	live := int32(0)
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if v := p.Labels[apply.LabelVersion]; v != "" && version != "" && v != version {
			continue
		}
		live++
		switch {
		case podFailing(p):
			c.Failed++
		case p.Status.Phase == corev1.PodRunning && podReady(p):
			c.Running++
		}
	}
	c.Desired = live
	if d, err := w.deploys.Deployments(ns).Get(name); err == nil && d.Spec.Replicas != nil {
		c.Desired = *d.Spec.Replicas
	}
	return c
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podFailing(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && failingReasons[cs.State.Waiting.Reason] {
			return true
		}
	}
	return false
}

// Drift compares the Deployment or DaemonSet of container workload ns/name
// in the informers' cache with what the agent applies for spec
// (apply.Drifted).
func (w *Watcher) Drift(ns, name string, spec *protocol.WorkloadSpec) []protocol.Drift {
	if spec.Container == nil {
		return nil
	}
	if spec.Container.Kind == "daemonset" {
		if ds, err := w.daemons.DaemonSets(ns).Get(name); err == nil {
			return apply.Drifted(ds, spec)
		}
		return nil
	}
	if d, err := w.deploys.Deployments(ns).Get(name); err == nil {
		return apply.Drifted(d, spec)
	}
	return nil
}
