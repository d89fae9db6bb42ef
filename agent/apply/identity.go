package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applyrbacv1 "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ote-stack/ote/agent/credential"
)

// WorkloadIdentity names the ServiceAccount, and the RoleBinding that binds
// it to the workload ClusterRole, that the agent keeps in each business
// namespace for Helm. Every Helm action for namespace nsX (install,
// upgrade, rollback, uninstall, reading the history, a template's lookup)
// impersonates system:serviceaccount:nsX:ote-workloads, which holds the
// workload role in nsX and nothing anywhere else: a chart can then neither
// read nor write beyond its namespace, whatever the agent itself may do.
const WorkloadIdentity = "ote-workloads"

// WorkloadUser is the user name of namespace's workload identity.
func WorkloadUser(namespace string) string {
	return "system:serviceaccount:" + namespace + ":" + WorkloadIdentity
}

// impersonating is a copy of cfg that acts as namespace's workload
// identity. It replaces an impersonation cfg may carry (a test acting as
// some user), so that only cfg's own credentials vouch for it.
func impersonating(cfg *rest.Config, namespace string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: WorkloadUser(namespace)}
	return c
}

// identityWait bounds how long ensureIdentity waits for the API server's
// authorizer to see a binding just made (RBAC reaches it through informers).
var identityWait = 15 * time.Second

// ensureIdentity makes namespace's workload identity, with the agent's own
// rights (its workload role in namespace, its bind and RoleBinding patch
// rights), and waits until the API server lets the identity act there.
// The ServiceAccount does not mount its token into pods; a chart may not
// use it for its pods either (checkChartObject).
func (r *Releases) ensureIdentity(ctx context.Context, namespace string) error {
	if r.WorkloadRole == "" {
		return errors.New("this agent has no workload role (--workload-role) for its charts to act as: chart workloads are refused")
	}
	agent, err := kubernetes.NewForConfig(r.Config)
	if err != nil {
		return err
	}
	as, err := kubernetes.NewForConfig(impersonating(r.Config, namespace))
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: credential.FieldManager, Force: true}
	sa := applycorev1.ServiceAccount(WorkloadIdentity, namespace).WithLabels(ManagedBy).WithAutomountServiceAccountToken(false)
	rb := applyrbacv1.RoleBinding(WorkloadIdentity, namespace).WithLabels(ManagedBy).
		WithRoleRef(applyrbacv1.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName(r.WorkloadRole)).
		WithSubjects(applyrbacv1.Subject().WithKind("ServiceAccount").WithNamespace(namespace).WithName(WorkloadIdentity))
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "list", Resource: "secrets"},
	}}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, identityWait, true, func(ctx context.Context) (bool, error) {
		if _, last = agent.CoreV1().ServiceAccounts(namespace).Apply(ctx, sa, opts); last != nil {
			// Forbidden: the agent's own binding in a namespace made just
			// now may not have reached the authorizer yet.
			return false, retryable(last)
		}
		if _, last = agent.RbacV1().RoleBindings(namespace).Apply(ctx, rb, opts); last != nil {
			return false, retryable(last)
		}
		res, err := as.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			last = err
			return false, retryable(err)
		}
		if !res.Status.Allowed {
			last = fmt.Errorf("%s may not act in %s yet", WorkloadUser(namespace), namespace)
			return false, nil
		}
		return true, nil
	})
	if err != nil && last != nil {
		err = last
	}
	if err != nil {
		return fmt.Errorf("workload identity %s/%s: %w", namespace, WorkloadIdentity, err)
	}
	return nil
}

// retryable is nil for errors that a moment may cure (a binding not yet
// seen by the authorizer), and err otherwise.
func retryable(err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) {
		return nil
	}
	return err
}
