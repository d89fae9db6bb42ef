// Package credential keeps the cluster's hub credential in a Kubernetes
// Secret, so that the agent survives restarts and rescheduling without a new
// join.
package credential

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// FieldManager is the agent's server-side apply field manager.
const FieldManager = "ote-agent"

// Keys of the Secret's data.
const (
	keyCredential = "credential"
	keyCluster    = "cluster"
)

// Store reads and writes the credential Secret namespace/name.
type Store struct {
	client    kubernetes.Interface
	namespace string
	name      string
}

// New returns a store of the Secret namespace/name.
func New(client kubernetes.Interface, namespace, name string) *Store {
	return &Store{client: client, namespace: namespace, name: name}
}

// ErrOtherCluster: the Secret holds the credential of another cluster name.
var ErrOtherCluster = errors.New("credential secret belongs to another cluster")

// Load returns the stored credential of cluster, or "" when there is none.
func (s *Store) Load(ctx context.Context, cluster string) (string, error) {
	sec, err := s.client.CoreV1().Secrets(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read secret %s/%s: %w", s.namespace, s.name, err)
	}
	if got := string(sec.Data[keyCluster]); got != "" && got != cluster {
		return "", fmt.Errorf("%w: secret %s/%s is for cluster %q, this agent is %q", ErrOtherCluster, s.namespace, s.name, got, cluster)
	}
	return string(sec.Data[keyCredential]), nil
}

// Save creates the namespace when missing and writes the Secret.
func (s *Store) Save(ctx context.Context, cluster, credential string) error {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	ns := applycorev1.Namespace(s.namespace).WithLabels(map[string]string{"app.kubernetes.io/managed-by": FieldManager})
	if _, err := s.client.CoreV1().Namespaces().Apply(ctx, ns, opts); err != nil {
		return fmt.Errorf("create namespace %s: %w", s.namespace, err)
	}
	sec := applycorev1.Secret(s.name, s.namespace).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": FieldManager}).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{keyCredential: []byte(credential), keyCluster: []byte(cluster)})
	if _, err := s.client.CoreV1().Secrets(s.namespace).Apply(ctx, sec, opts); err != nil {
		return fmt.Errorf("write secret %s/%s: %w", s.namespace, s.name, err)
	}
	return nil
}
