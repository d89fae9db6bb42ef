package apply

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/protocol"
)

// enforceLabel is the Pod Security Admission label that the API server
// judges a namespace's pods by.
const enforceLabel = "pod-security.kubernetes.io/enforce"

// namespaceLevel is the pod security level that namespace enforces, for a
// workload item that carries none (compiled by a hub from before levels, or
// before the business had one): its pods then get what the namespace
// demands, rather than being refused. A namespace without the label, or
// with a value that is none of the levels, is "" (no securityContext).
func namespaceLevel(ctx context.Context, client kubernetes.Interface, namespace string) (string, error) {
	ns, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("pod security level of namespace %s: %w", namespace, err)
	}
	switch level := ns.Labels[enforceLabel]; level {
	case protocol.PodSecurityRestricted, protocol.PodSecurityBaseline, protocol.PodSecurityPrivileged:
		return level, nil
	}
	return "", nil
}
