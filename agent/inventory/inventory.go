// Package inventory watches the cluster's Nodes with a client-go informer and
// turns them into the protocol's node reports: a full snapshot, then deltas
// of what changed since, coalesced.
package inventory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ote-stack/ote/protocol"
)

// GPU resource and the GPU feature discovery label of per-GPU memory (MiB).
const (
	GPUResource    corev1.ResourceName = "nvidia.com/gpu"
	GPUMemoryLabel                     = "nvidia.com/gpu.memory"
)

// Inventory tracks Nodes. Start it, then take a Snapshot and Deltas.
type Inventory struct {
	factory informers.SharedInformerFactory
	lister  listerscorev1.NodeLister
	synced  cache.InformerSynced

	changed chan struct{} // cap 1: some node changed
	cancel  context.CancelFunc

	mu    sync.Mutex // guards dirty and sent
	dirty map[string]bool
	sent  map[string]protocol.Node // what the hub was last told
}

// New returns an inventory of client's Nodes.
func New(client kubernetes.Interface) *Inventory {
	f := informers.NewSharedInformerFactory(client, 10*time.Minute)
	nodes := f.Core().V1().Nodes()
	inv := &Inventory{
		factory: f, lister: nodes.Lister(), synced: nodes.Informer().HasSynced,
		changed: make(chan struct{}, 1), dirty: map[string]bool{}, sent: map[string]protocol.Node{},
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    inv.mark,
		UpdateFunc: func(_, obj any) { inv.mark(obj) },
		DeleteFunc: inv.mark,
	})
	return inv
}

// Start runs the informer until ctx ends or Stop, and waits for its first list.
func (i *Inventory) Start(ctx context.Context) error {
	ctx, i.cancel = context.WithCancel(ctx)
	i.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), i.synced) {
		return fmt.Errorf("node informer did not sync")
	}
	return nil
}

// Stop ends the informer and waits for its goroutines.
func (i *Inventory) Stop() {
	if i.cancel != nil {
		i.cancel()
	}
	i.factory.Shutdown()
}

func (i *Inventory) mark(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	i.mu.Lock()
	i.dirty[n.Name] = true
	i.mu.Unlock()
	select {
	case i.changed <- struct{}{}:
	default:
	}
}

// Changed signals that Delta may have something.
func (i *Inventory) Changed() <-chan struct{} { return i.changed }

// Snapshot returns every node, sorted by name, and makes it the baseline of
// later deltas.
func (i *Inventory) Snapshot() []protocol.Node {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.dirty = map[string]bool{}
	nodes, _ := i.lister.List(labels.Everything())
	out := make([]protocol.Node, 0, len(nodes))
	i.sent = make(map[string]protocol.Node, len(nodes))
	for _, n := range nodes {
		pn := FromNode(n)
		out = append(out, pn)
		i.sent[pn.Name] = pn
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Delta returns the nodes that changed since the last Snapshot or Delta and
// the names of those that are gone. Updates that change nothing the hub sees
// (kubelet status churn) are left out.
func (i *Inventory) Delta() (nodes []protocol.Node, removed []string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for name := range i.dirty {
		n, err := i.lister.Get(name)
		if err != nil {
			if _, ok := i.sent[name]; ok {
				removed = append(removed, name)
				delete(i.sent, name)
			}
			continue
		}
		pn := FromNode(n)
		if prev, ok := i.sent[name]; ok && prev == pn {
			continue
		}
		nodes = append(nodes, pn)
		i.sent[name] = pn
	}
	i.dirty = map[string]bool{}
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Name < nodes[b].Name })
	sort.Strings(removed)
	return nodes, removed
}

// FromNode converts a Node to its report.
func FromNode(n *corev1.Node) protocol.Node {
	capacity := n.Status.Capacity
	pn := protocol.Node{
		Name:            n.Name,
		OperatingSystem: n.Status.NodeInfo.OperatingSystem,
		OSImage:         n.Status.NodeInfo.OSImage,
		KernelVersion:   n.Status.NodeInfo.KernelVersion,
		CPU:             capacity.Cpu().Value(),
		Memory:          capacity.Memory().Value(),
		Disk:            capacity.StorageEphemeral().Value(),
	}
	if pn.OperatingSystem == "" {
		pn.OperatingSystem = n.Labels[corev1.LabelOSStable]
	}
	if q, ok := capacity[GPUResource]; ok {
		pn.GPUCount = q.Value()
	}
	if mib, err := strconv.ParseInt(n.Labels[GPUMemoryLabel], 10, 64); err == nil && mib > 0 {
		pn.GPUMemory = pn.GPUCount * mib << 20
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			pn.IP = a.Address
			break
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			pn.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return pn
}
