// Package apply makes desired items true in the cluster, one applier per kind
// of item. Every applier is idempotent: applying the same item twice, or
// deleting what is gone, succeeds.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applyrbacv1 "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/agent/credential"
	"github.com/ote-stack/ote/protocol"
)

// Applier applies items of one kind.
type Applier interface {
	Apply(ctx context.Context, item protocol.Item) error
}

// Set dispatches items to the applier of their kind.
type Set map[protocol.ItemKind]Applier

// Options complete the appliers; the zero value is valid.
type Options struct {
	// Helm installs chart workloads; nil refuses them.
	Helm *Releases
	// Grant is bound in every namespace made; zero binds nothing.
	Grant Grant
	// FetchPullSecret gets an external repository's .dockerconfigjson from
	// the hub; nil refuses workloads that need one.
	FetchPullSecret FetchPullSecret
}

// NewSet returns the appliers of every kind this agent knows.
func NewSet(client kubernetes.Interface, o Options) Set {
	return Set{
		protocol.ItemNamespace: &Namespaces{Client: client, Grant: o.Grant},
		protocol.ItemNodeLabel: &NodeLabels{Client: client},
		protocol.ItemWorkload:  &Workloads{Client: client, Helm: o.Helm, FetchPullSecret: o.FetchPullSecret},
	}
}

// Apply applies item with the applier of its kind.
func (s Set) Apply(ctx context.Context, item protocol.Item) error {
	a, ok := s[item.Kind]
	if !ok {
		return fmt.Errorf("this agent cannot apply items of kind %q", item.Kind)
	}
	return a.Apply(ctx, item)
}

// ManagedBy marks what the agent made.
var ManagedBy = map[string]string{"app.kubernetes.io/managed-by": credential.FieldManager}

// Grant is the ClusterRole that the agent binds to its own ServiceAccount in
// every namespace it makes, so that it may run workloads there without
// rights in the cluster's other namespaces.
type Grant struct {
	// ClusterRole to bind; empty binds nothing.
	ClusterRole string
	// ServiceAccount is the agent's, as namespace/name.
	ServiceAccount string
}

// Namespaces applies namespaces by server-side apply with the agent's field
// manager, with the RoleBinding of Grant; a deleted item deletes the
// namespace.
type Namespaces struct {
	Client kubernetes.Interface
	Grant  Grant
}

func (a *Namespaces) Apply(ctx context.Context, item protocol.Item) error {
	if item.Deleted {
		err := a.Client.CoreV1().Namespaces().Delete(ctx, item.Name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	var spec protocol.NamespaceSpec
	if len(item.Spec) > 0 {
		if err := json.Unmarshal(item.Spec, &spec); err != nil {
			return fmt.Errorf("namespace spec: %w", err)
		}
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	for k, v := range ManagedBy {
		labels[k] = v
	}
	opts := metav1.ApplyOptions{FieldManager: credential.FieldManager, Force: true}
	ns := applycorev1.Namespace(item.Name).WithLabels(labels)
	if _, err := a.Client.CoreV1().Namespaces().Apply(ctx, ns, opts); err != nil {
		return err
	}
	if a.Grant.ClusterRole == "" {
		return nil
	}
	saNS, saName, ok := strings.Cut(a.Grant.ServiceAccount, "/")
	if !ok {
		return fmt.Errorf("service account %q is not namespace/name", a.Grant.ServiceAccount)
	}
	rb := applyrbacv1.RoleBinding("ote-agent-workloads", item.Name).WithLabels(ManagedBy).
		WithRoleRef(applyrbacv1.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName(a.Grant.ClusterRole)).
		WithSubjects(applyrbacv1.Subject().WithKind("ServiceAccount").WithNamespace(saNS).WithName(saName))
	if _, err := a.Client.RbacV1().RoleBindings(item.Name).Apply(ctx, rb, opts); err != nil {
		return fmt.Errorf("grant workloads in %s: %w", item.Name, err)
	}
	return nil
}

// NodeLabels puts OTE labels on Nodes (protocol.NodeLabelKey) by merge patch,
// which, unlike apply, never creates a Node that does not exist.
type NodeLabels struct{ Client kubernetes.Interface }

func (a *NodeLabels) Apply(ctx context.Context, item protocol.Item) error {
	node, label, ok := splitNodeLabel(item.Name)
	if !ok {
		return fmt.Errorf("node label item %q is not <node>/<label>", item.Name)
	}
	var value any = "true"
	if item.Deleted {
		value = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{protocol.NodeLabelKey(label): value}}})
	_, err := a.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: credential.FieldManager})
	if apierrors.IsNotFound(err) {
		if item.Deleted {
			return nil
		}
		return fmt.Errorf("node %s not found", node)
	}
	if err != nil {
		return err
	}
	var spec protocol.NodeLabelSpec
	if item.Deleted && len(item.Spec) > 0 && json.Unmarshal(item.Spec, &spec) == nil && spec.Evict {
		return a.evict(ctx, node, protocol.NodeLabelKey(label))
	}
	return nil
}

// evict deletes the pods on node that the label key placed there.
func (a *NodeLabels) evict(ctx context.Context, node, key string) error {
	pods, err := a.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return fmt.Errorf("list pods on %s: %w", node, err)
	}
	for _, p := range pods.Items {
		if _, ok := p.Spec.NodeSelector[key]; !ok {
			continue
		}
		err := a.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

func splitNodeLabel(name string) (node, label string, ok bool) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i], name[i+1:], i > 0 && i < len(name)-1
		}
	}
	return "", "", false
}
