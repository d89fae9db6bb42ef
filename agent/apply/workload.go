package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/agent/credential"
	"github.com/ote-stack/ote/protocol"
)

// Label keys on everything a workload makes.
const (
	LabelDeploy  = "ote-stack.io/deploy"
	LabelApp     = "ote-stack.io/app"
	LabelVersion = "ote-stack.io/version"
)

// Workloads applies container workloads: a Deployment or a DaemonSet, a
// Service for the ports, a HorizontalPodAutoscaler when asked, all by
// server-side apply with the agent's field manager. What the workload no
// longer needs (the other kind, a Service without ports, an HPA no longer
// asked for) is deleted; a deleted item deletes everything it made.
type Workloads struct {
	Client kubernetes.Interface
	// Helm installs chart workloads; nil refuses them.
	Helm *Releases
	// FetchPullSecret gets pull credentials from the hub.
	FetchPullSecret FetchPullSecret
}

// FetchPullSecret returns the .dockerconfigjson of external repository
// repoID for namespace.
type FetchPullSecret func(ctx context.Context, namespace, repoID string) ([]byte, error)

func (a *Workloads) Apply(ctx context.Context, item protocol.Item) error {
	ns, name, ok := strings.Cut(item.Name, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("workload item %q is not <namespace>/<name>", item.Name)
	}
	if item.Deleted {
		if a.Helm != nil {
			if err := a.Helm.Uninstall(ns, name); err != nil {
				return fmt.Errorf("uninstall release %s/%s: %w", ns, name, err)
			}
		}
		return a.remove(ctx, ns, name, "deployment", "daemonset", "service", "hpa")
	}
	var spec protocol.WorkloadSpec
	if err := json.Unmarshal(item.Spec, &spec); err != nil {
		return fmt.Errorf("workload spec: %w", err)
	}
	if spec.Chart != nil {
		if a.Helm == nil {
			return errors.New("this agent has no Helm configuration for chart workloads")
		}
		// The item may have been a container app (an upgrade or a
		// rollback to a version of the other kind): what it made goes
		// first, so that the chart may own objects of the same names.
		if err := a.remove(ctx, ns, name, "deployment", "daemonset", "service", "hpa"); err != nil {
			return fmt.Errorf("switch %s/%s to a chart app: remove the container app's objects: %w", ns, name, err)
		}
		return a.Helm.Install(ctx, ns, name, spec.Chart)
	}
	c := spec.Container
	if c == nil {
		return errors.New("the workload has neither a container nor a chart")
	}
	// The item may have been a chart app: its release, named after the
	// item, is uninstalled before the container app's objects are
	// applied, lest the uninstall delete objects of the same names that
	// apply would have taken over. Without Helm no release was made.
	if a.Helm != nil {
		if err := a.Helm.Uninstall(ns, name); err != nil {
			return fmt.Errorf("switch %s/%s to a container app: uninstall the chart app's Helm release: %w", ns, name, err)
		}
	}
	opts := metav1.ApplyOptions{FieldManager: credential.FieldManager, Force: true}
	if c.PullSecret != nil {
		if err := a.pullSecret(ctx, ns, c.ImagePullSecret, c.PullSecret, opts); err != nil {
			return err
		}
	}
	labels := map[string]string{LabelDeploy: name, LabelApp: spec.App, LabelVersion: spec.Version}
	for k, v := range ManagedBy {
		labels[k] = v
	}
	selector := map[string]string{LabelDeploy: name}
	if spec.PodSecurity == "" {
		level, err := namespaceLevel(ctx, a.Client, ns)
		if err != nil {
			return err
		}
		spec.PodSecurity = level
	}
	pod := podTemplate(&spec, labels)
	switch c.Kind {
	case "deployment":
		d := appsv1ac.Deployment(name, ns).WithLabels(labels).WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithTemplate(pod).
			WithMinReadySeconds(c.MinReadySeconds).
			WithStrategy(appsv1ac.DeploymentStrategy().WithType("RollingUpdate").WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
				WithMaxUnavailable(intstr.FromInt32(c.MaxUnavailable)).WithMaxSurge(intstr.FromInt32(c.MaxSurge)))))
		if c.HPA == nil {
			// With an autoscaler the replica count is the autoscaler's.
			d.Spec.WithReplicas(c.Replicas)
		}
		got, err := a.Client.AppsV1().Deployments(ns).Apply(ctx, d, opts)
		if err != nil {
			return a.applyFailed(ctx, ns, name, "deployment", err)
		}
		if err := notTerminating("deployment", got); err != nil {
			return err
		}
		if err := a.leftovers(ctx, got, &spec); err != nil {
			return err
		}
		if err := a.remove(ctx, ns, name, "daemonset"); err != nil {
			return err
		}
	case "daemonset":
		ds := appsv1ac.DaemonSet(name, ns).WithLabels(labels).WithSpec(appsv1ac.DaemonSetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithTemplate(pod).
			WithMinReadySeconds(c.MinReadySeconds).
			WithUpdateStrategy(appsv1ac.DaemonSetUpdateStrategy().WithType("RollingUpdate").WithRollingUpdate(appsv1ac.RollingUpdateDaemonSet().
				WithMaxUnavailable(intstr.FromInt32(c.MaxUnavailable)).WithMaxSurge(intstr.FromInt32(c.MaxSurge)))))
		got, err := a.Client.AppsV1().DaemonSets(ns).Apply(ctx, ds, opts)
		if err != nil {
			return a.applyFailed(ctx, ns, name, "daemonset", err)
		}
		if err := notTerminating("daemonset", got); err != nil {
			return err
		}
		if err := a.leftovers(ctx, got, &spec); err != nil {
			return err
		}
		if err := a.remove(ctx, ns, name, "deployment"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown workload kind %q", c.Kind)
	}

	if len(c.Ports) > 0 {
		svc := corev1ac.ServiceSpec().WithSelector(selector)
		for i, p := range c.Ports {
			pn := p.Name
			if pn == "" {
				pn = fmt.Sprintf("port-%d", i)
			}
			svc.WithPorts(corev1ac.ServicePort().WithName(pn).WithPort(p.ServicePort).
				WithTargetPort(intstr.FromInt32(p.ContainerPort)).WithProtocol(corev1.Protocol(p.Protocol)))
		}
		got, err := a.Client.CoreV1().Services(ns).Apply(ctx, corev1ac.Service(name, ns).WithLabels(labels).WithSpec(svc), opts)
		if err != nil {
			return a.applyFailed(ctx, ns, name, "service", err)
		}
		if err := notTerminating("service", got); err != nil {
			return err
		}
	} else if err := a.remove(ctx, ns, name, "service"); err != nil {
		return err
	}

	if c.Kind == "deployment" && c.HPA != nil {
		hs := autoscalingv2ac.HorizontalPodAutoscalerSpec().
			WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName(name)).
			WithMinReplicas(c.HPA.MinReplicas).WithMaxReplicas(c.HPA.MaxReplicas)
		for res, pct := range map[corev1.ResourceName]int32{corev1.ResourceCPU: c.HPA.CPUPercent, corev1.ResourceMemory: c.HPA.MemPercent} {
			if pct > 0 {
				hs.WithMetrics(autoscalingv2ac.MetricSpec().WithType("Resource").WithResource(autoscalingv2ac.ResourceMetricSource().
					WithName(res).WithTarget(autoscalingv2ac.MetricTarget().WithType("Utilization").WithAverageUtilization(pct))))
			}
		}
		hpa := autoscalingv2ac.HorizontalPodAutoscaler(name, ns).WithLabels(labels).WithSpec(hs)
		got, err := a.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Apply(ctx, hpa, opts)
		if err != nil {
			return a.applyFailed(ctx, ns, name, "hpa", err)
		}
		if err := notTerminating("hpa", got); err != nil {
			return err
		}
	} else if err := a.remove(ctx, ns, name, "hpa"); err != nil {
		return err
	}
	return nil
}

func podTemplate(spec *protocol.WorkloadSpec, labels map[string]string) *corev1ac.PodTemplateSpecApplyConfiguration {
	c := spec.Container
	ctr := corev1ac.Container().WithName("app").WithImage(c.Image)
	if len(c.Command) > 0 {
		ctr.WithCommand(c.Command...)
	}
	for _, e := range c.Env {
		ctr.WithEnv(corev1ac.EnvVar().WithName(e.Name).WithValue(e.Value))
	}
	for _, p := range c.Ports {
		cp := corev1ac.ContainerPort().WithContainerPort(p.ContainerPort).WithProtocol(corev1.Protocol(p.Protocol))
		if p.Name != "" {
			cp.WithName(p.Name)
		}
		ctr.WithPorts(cp)
	}
	requests := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(c.MinCPUMilli, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(c.MinMemoryMiB<<20, resource.BinarySI),
	}
	limits := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(c.MaxCPUMilli, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(c.MaxMemoryMiB<<20, resource.BinarySI),
	}
	if c.GPU > 0 {
		limits["nvidia.com/gpu"] = *resource.NewQuantity(c.GPU, resource.DecimalSI)
	}
	ctr.WithResources(corev1ac.ResourceRequirements().WithRequests(requests).WithLimits(limits))
	podSpec := corev1ac.PodSpec()
	for _, v := range c.Volumes {
		ctr.WithVolumeMounts(corev1ac.VolumeMount().WithName(v.Name).WithMountPath(v.MountPath).WithReadOnly(v.ReadOnly))
		vol := corev1ac.Volume().WithName(v.Name)
		if v.Type == "hostPath" {
			vol.WithHostPath(corev1ac.HostPathVolumeSource().WithPath(v.HostPath))
		} else {
			vol.WithEmptyDir(corev1ac.EmptyDirVolumeSource())
		}
		podSpec.WithVolumes(vol)
	}
	if spec.PodSecurity == protocol.PodSecurityRestricted {
		restrict(podSpec, ctr)
	}
	podSpec.WithContainers(ctr)
	if spec.NodeLabel != "" {
		podSpec.WithNodeSelector(map[string]string{protocol.NodeLabelKey(spec.NodeLabel): "true"})
	}
	if c.ImagePullSecret != "" {
		podSpec.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(c.ImagePullSecret))
	}
	return corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(podSpec)
}

// restrict gives the pod and its container the securityContext that the
// restricted Pod Security Standard requires, so that the API server of a
// restricted namespace admits the pods: not root (the kubelet refuses to
// start an image whose user is root), no privilege escalation, every
// capability dropped, the container runtime's default seccomp profile.
func restrict(pod *corev1ac.PodSpecApplyConfiguration, ctr *corev1ac.ContainerApplyConfiguration) {
	seccomp := corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)
	pod.WithSecurityContext(corev1ac.PodSecurityContext().WithRunAsNonRoot(true).WithSeccompProfile(seccomp))
	ctr.WithSecurityContext(corev1ac.SecurityContext().
		WithRunAsNonRoot(true).
		WithAllowPrivilegeEscalation(false).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(seccomp))
}

// remove deletes the objects of kinds named name that the agent made for
// workload name (labelled managed-by ote-agent and LabelDeploy name), and
// leaves any other object of that name, such as one of a Helm release.
// What the cluster holds is the record: nothing is remembered between
// applies, so a restarted agent removes what an earlier one made.
func (a *Workloads) remove(ctx context.Context, ns, name string, kinds ...string) error {
	for _, k := range kinds {
		get, del := a.calls(ns, k)
		obj, err := get(ctx, name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get %s %s/%s: %w", k, ns, name, err)
		}
		if !madeFor(obj, name) {
			continue
		}
		// The UID precondition keeps a delete from reaching an object
		// that replaced the one judged.
		uid := obj.GetUID()
		err = del(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s/%s: %w", k, ns, name, err)
		}
	}
	return nil
}

type (
	getFunc    func(ctx context.Context, name string) (metav1.Object, error)
	deleteFunc func(ctx context.Context, name string, opts metav1.DeleteOptions) error
)

// calls returns the get and delete of a kind of remove in namespace ns.
func (a *Workloads) calls(ns, kind string) (getFunc, deleteFunc) {
	switch kind {
	case "deployment":
		c := a.Client.AppsV1().Deployments(ns)
		return func(ctx context.Context, n string) (metav1.Object, error) { return c.Get(ctx, n, metav1.GetOptions{}) }, c.Delete
	case "daemonset":
		c := a.Client.AppsV1().DaemonSets(ns)
		return func(ctx context.Context, n string) (metav1.Object, error) { return c.Get(ctx, n, metav1.GetOptions{}) }, c.Delete
	case "service":
		c := a.Client.CoreV1().Services(ns)
		return func(ctx context.Context, n string) (metav1.Object, error) { return c.Get(ctx, n, metav1.GetOptions{}) }, c.Delete
	case "hpa":
		c := a.Client.AutoscalingV2().HorizontalPodAutoscalers(ns)
		return func(ctx context.Context, n string) (metav1.Object, error) { return c.Get(ctx, n, metav1.GetOptions{}) }, c.Delete
	}
	panic("apply: no calls for kind " + kind)
}

// madeFor reports whether the agent made obj for workload name.
func madeFor(obj metav1.Object, name string) bool {
	l := obj.GetLabels()
	for k, v := range ManagedBy {
		if l[k] != v {
			return false
		}
	}
	return l[LabelDeploy] == name
}

// applyFailed is the error of applying kind name: an object of that name
// that is being deleted (see notTerminating) is the reason, rather than
// the API server's complaint about it (an immutable selector, say).
func (a *Workloads) applyFailed(ctx context.Context, ns, name, kind string, err error) error {
	get, _ := a.calls(ns, kind)
	if obj, gerr := get(ctx, name); gerr == nil {
		if terr := notTerminating(kind, obj); terr != nil {
			return terr
		}
	}
	return err
}

// notTerminating refuses an applied object that is being deleted (one of
// a Helm release just uninstalled that a finalizer keeps a while): it is
// about to vanish, so the item fails and its retry makes the object anew.
func notTerminating(kind string, obj metav1.Object) error {
	if obj.GetDeletionTimestamp() == nil {
		return nil
	}
	return fmt.Errorf("%s %s/%s is still being deleted (finalizers %v); it is applied again when it is gone", kind, obj.GetNamespace(), obj.GetName(), obj.GetFinalizers())
}

// pullSecret makes the namespace's kubernetes.io/dockerconfigjson Secret of
// an external repository from credentials fetched from the hub.
func (a *Workloads) pullSecret(ctx context.Context, ns, name string, ref *protocol.PullSecretRef, opts metav1.ApplyOptions) error {
	if a.FetchPullSecret == nil {
		return errors.New("this agent cannot fetch pull credentials from the hub")
	}
	cfg, err := a.FetchPullSecret(ctx, ns, ref.RepositoryID)
	if err != nil {
		return fmt.Errorf("pull credentials of repository %s: %w", ref.RepositoryID, err)
	}
	sec := corev1ac.Secret(name, ns).WithLabels(ManagedBy).
		WithAnnotations(map[string]string{"ote-stack.io/repository": ref.RepositoryID, "ote-stack.io/fingerprint": ref.Fingerprint}).
		WithType(corev1.SecretTypeDockerConfigJson).
		WithData(map[string][]byte{corev1.DockerConfigJsonKey: cfg})
	_, err = a.Client.CoreV1().Secrets(ns).Apply(ctx, sec, opts)
	return err
}
