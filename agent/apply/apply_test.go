package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ote-stack/ote/protocol"
	"github.com/ote-stack/ote/test/harness"
)

var (
	client     kubernetes.Interface
	restConfig *rest.Config
)

func TestMain(m *testing.M) {
	dir, _ := os.MkdirTemp("", "ote-apply")
	api, err := harness.StartIn(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client, restConfig = api.Clientset(), api.Config
	code := m.Run()
	api.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func item(kind protocol.ItemKind, name string, rev uint64, spec any, deleted bool) protocol.Item {
	it := protocol.Item{ItemKey: protocol.ItemKey{Kind: kind, Name: name}, Revision: rev, Deleted: deleted}
	if spec != nil {
		it.Spec, _ = json.Marshal(spec)
	}
	return it
}

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	ns := item(protocol.ItemNamespace, "ns7", 1, protocol.NamespaceSpec{Labels: map[string]string{"ote-stack.io/business-id": "7"}}, false)
	for i := 0; i < 2; i++ { // idempotent
		if err := set.Apply(ctx, ns); err != nil {
			t.Fatalf("apply #%d: %v", i+1, err)
		}
	}
	got, err := client.CoreV1().Namespaces().Get(ctx, "ns7", metav1.GetOptions{})
	if err != nil || got.Labels["ote-stack.io/business-id"] != "7" || got.Labels["app.kubernetes.io/managed-by"] != "ote-agent" {
		t.Fatalf("namespace %+v %v", got.Labels, err)
	}
	var owned bool
	for _, mf := range got.ManagedFields {
		owned = owned || (mf.Manager == "ote-agent" && mf.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !owned {
		t.Fatal("namespace not applied by the ote-agent field manager")
	}
	del := item(protocol.ItemNamespace, "ns7", 2, nil, true)
	if err := set.Apply(ctx, del); err != nil {
		t.Fatal(err)
	}
	got, err = client.CoreV1().Namespaces().Get(ctx, "ns7", metav1.GetOptions{})
	// Without a controller manager the namespace stays Terminating.
	if err == nil && got.DeletionTimestamp == nil {
		t.Fatal("namespace not being deleted")
	}
	if err := set.Apply(ctx, item(protocol.ItemNamespace, "never-there", 3, nil, true)); err != nil {
		t.Fatalf("deleting a missing namespace: %v", err)
	}
	bad := item(protocol.ItemNamespace, "Not_A_Name", 4, nil, false)
	if err := set.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "Invalid") {
		t.Fatalf("invalid namespace name: %v", err)
	}
}

func TestNodeLabels(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"keep": "me"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	label := func() (string, bool) {
		n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		v, ok := n.Labels["label.ote-stack.io/gpu"]
		if n.Labels["keep"] != "me" {
			t.Fatal("the agent touched a label it does not own")
		}
		return v, ok
	}
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "n1/gpu", 1, protocol.NodeLabelSpec{Node: "n1", Label: "gpu"}, false)); err != nil {
		t.Fatal(err)
	}
	if v, ok := label(); !ok || v != "true" {
		t.Fatalf("label %q %v", v, ok)
	}
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "n1/gpu", 2, nil, true)); err != nil {
		t.Fatal(err)
	}
	if _, ok := label(); ok {
		t.Fatal("label not removed")
	}
	// A missing node is an error, and no Node is created.
	err := set.Apply(ctx, item(protocol.ItemNodeLabel, "ghost/gpu", 3, nil, false))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("label on a missing node: %v", err)
	}
	if _, err := client.CoreV1().Nodes().Get(ctx, "ghost", metav1.GetOptions{}); err == nil {
		t.Fatal("labelling created a Node")
	}
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "ghost/gpu", 4, nil, true)); err != nil {
		t.Fatalf("removing a label from a missing node: %v", err)
	}
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "no-slash", 5, nil, false)); err == nil {
		t.Fatal("malformed node label name accepted")
	}
	if err := set.Apply(ctx, protocol.Item{ItemKey: protocol.ItemKey{Kind: "teleport", Name: "x"}}); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// A node label removed with deleteDeploy evicts the pods it placed there.
func TestNodeLabelEviction(t *testing.T) {
	ctx := context.Background()
	set := NewSet(client, Options{})
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n-evict"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns-evict"}}, metav1.CreateOptions{})
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "n-evict/edge", 1, nil, false)); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, selector map[string]string) {
		_, err := client.CoreV1().Pods("ns-evict").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: "n-evict", NodeSelector: selector, Containers: []corev1.Container{{Name: "c", Image: "x:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("placed", map[string]string{"label.ote-stack.io/edge": "true"})
	mk("other", nil)
	if err := set.Apply(ctx, item(protocol.ItemNodeLabel, "n-evict/edge", 2, protocol.NodeLabelSpec{Node: "n-evict", Label: "edge", Evict: true}, true)); err != nil {
		t.Fatal(err)
	}
	pods, _ := client.CoreV1().Pods("ns-evict").List(ctx, metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			left = append(left, p.Name)
		}
	}
	if fmt.Sprint(left) != "[other]" {
		t.Fatalf("pods left %v, want only the one the label did not place", left)
	}
}
