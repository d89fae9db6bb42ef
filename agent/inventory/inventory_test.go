package inventory

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
	"github.com/ote-stack/ote/test/harness"
)

func TestFromNode(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Labels: map[string]string{GPUMemoryLabel: "24576"}},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:              resource.MustParse("15500m"),
				corev1.ResourceMemory:           resource.MustParse("64Gi"),
				corev1.ResourceEphemeralStorage: resource.MustParse("500Gi"),
				GPUResource:                     resource.MustParse("4"),
			},
			NodeInfo:   corev1.NodeSystemInfo{OperatingSystem: "linux", OSImage: "Ubuntu", KernelVersion: "6.8"},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "gpu-1"}, {Type: corev1.NodeInternalIP, Address: "10.1.2.3"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	p := FromNode(n)
	if p.CPU != 16 || p.Memory != 64<<30 || p.Disk != 500<<30 || p.GPUCount != 4 || p.GPUMemory != 4*24576<<20 ||
		p.IP != "10.1.2.3" || !p.Ready || p.OperatingSystem != "linux" || p.KernelVersion != "6.8" {
		t.Fatalf("%+v", p)
	}
	n.Labels = nil
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}
	if p := FromNode(n); p.GPUMemory != 0 || p.Ready {
		t.Fatalf("without the GFD label or readiness: %+v", p)
	}
}

// Against a real API server: snapshot, then coalesced deltas of what changed.
func TestSnapshotAndDeltas(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mk := func(name string) {
		n, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("a")
	mk("b")
	inv := New(cs)
	if err := inv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer inv.Stop()
	snap := inv.Snapshot()
	if len(snap) != 2 || snap[0].Name != "a" || snap[0].CPU != 2 {
		t.Fatalf("snapshot %+v", snap)
	}
	waitChange := func() {
		t.Helper()
		select {
		case <-inv.Changed():
		case <-time.After(10 * time.Second):
			t.Fatal("no change signalled")
		}
	}
	mk("c")
	if err := cs.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The events (c created, c's capacity set, a deleted) may be signalled
	// apart: gather the deltas, the newest state of each node winning,
	// until c's capacity and a's removal are in, within a deadline.
	got := map[string]protocol.Node{}
	var removed []string
	deadline := time.Now().Add(10 * time.Second)
	for got["c"].CPU != 2 || len(removed) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("delta after 10s: %+v removed %v", got, removed)
		}
		waitChange()
		n, r := inv.Delta()
		for _, node := range n {
			got[node.Name] = node
		}
		removed = append(removed, r...)
	}
	if len(got) != 1 || len(removed) != 1 || removed[0] != "a" {
		t.Fatalf("delta: %+v removed %v", got, removed)
	}
	// A label change the hub does not show is no delta.
	b, _ := cs.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	b.Labels = map[string]string{"unrelated": "x"}
	if _, err := cs.CoreV1().Nodes().Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The positive signal: the update is taken in (b is marked changed).
	deadline = time.Now().Add(10 * time.Second)
	for {
		inv.mu.Lock()
		_, taken := inv.dirty["b"]
		inv.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the label change never reached the inventory")
		}
		waitChange()
	}
	if nodes, removed := inv.Delta(); len(nodes) != 0 || len(removed) != 0 {
		t.Fatalf("status churn reported: %+v %v", nodes, removed)
	}
}
