package protocol

// The parts of a container app that travel to agents with its workload.

// Port is a container port, exposed by the app's Service.
type Port struct {
	// Name is optional (a DNS label of at most 15 characters).
	Name string `json:"name,omitempty"`
	// ContainerPort is where the container listens (1-65535).
	ContainerPort int32 `json:"containerPort"`
	// ServicePort is the Service's port; 0 means the same as ContainerPort.
	ServicePort int32 `json:"servicePort,omitempty"`
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string `json:"protocol,omitempty"`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Volume is a volume mounted into the container: an emptyDir or a hostPath.
type Volume struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	// Type is "emptyDir" or "hostPath".
	Type string `json:"type"`
	// HostPath is the node's path, for Type hostPath.
	HostPath string `json:"hostPath,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Drift policies of WorkloadSpec.DriftPolicy.
const (
	DriftCorrect = "correct"
	DriftReport  = "report"
)

// WorkloadSpec is the spec of ItemWorkload: one deployment's workload in one
// cluster, in namespace Namespace under name Name.
type WorkloadSpec struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	App       string `json:"app"`
	Version   string `json:"version"`
	// NodeLabel, when set, keeps the pods on nodes with that OTE label
	// (nodeSelector NodeLabelKey(NodeLabel): "true").
	NodeLabel string `json:"nodeLabel,omitempty"`
	// PodSecurity is the Pod Security Standard level of the business's
	// namespace (PodSecurityRestricted, PodSecurityBaseline or
	// PodSecurityPrivileged; added 2026-12-01, optional). Under
	// PodSecurityRestricted the agent gives a container app's pod and
	// container the securityContext that the restricted level requires
	// (runAsNonRoot, no privilege escalation, every capability dropped,
	// the RuntimeDefault seccomp profile); otherwise, and when empty (a
	// hub from before the field), it sets none. Chart apps are not
	// changed: the namespace's labels make the edge API server judge them.
	PodSecurity string `json:"podSecurity,omitempty"`
	// DriftPolicy says what the agent does when someone else changes what
	// it applied (optional, 2026-12-02): DriftCorrect (and "") applies the
	// workload again, DriftReport only reports it (ItemStatus.Drift).
	DriftPolicy string         `json:"driftPolicy,omitempty"`
	Container   *ContainerSpec `json:"container,omitempty"`
	Chart       *ChartSpec     `json:"chart,omitempty"`
}

// ChartSpec is a chart application: a Helm release named after the
// deployment, in its namespace. The agent fetches the archive from the hub
// (ChartsPath) and checks it against Digest.
type ChartSpec struct {
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	// Values are passed to the chart (the node label arrives as
	// nodeSelector).
	Values map[string]any `json:"values,omitempty"`
}

// ContainerSpec is a container app, ready to become a Deployment or a
// DaemonSet, a Service for its ports and, when autoscaled, a
// HorizontalPodAutoscaler.
type ContainerSpec struct {
	// Kind is "deployment" or "daemonset".
	Kind  string `json:"kind"`
	Image string `json:"image"`
	// ImagePullSecret names a Secret of the namespace for pulling the image.
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// PullSecret, when set, tells the agent to make ImagePullSecret from an
	// external repository's credentials, fetched from the hub.
	PullSecret *PullSecretRef `json:"pullSecret,omitempty"`
	Ports      []Port         `json:"ports,omitempty"`
	// Command replaces the image's entrypoint; empty keeps it.
	Command []string `json:"command,omitempty"`
	Env     []EnvVar `json:"env,omitempty"`
	Volumes []Volume `json:"volumes,omitempty"`
	// Replicas counts for deployments.
	Replicas int32 `json:"replicas"`
	// HPA, when set, autoscales the deployment.
	HPA *HPASpec `json:"hpa,omitempty"`
	// CPU in millicores and memory in MiB: requests (Min) and limits (Max).
	MinCPUMilli  int64 `json:"minCPUMilli"`
	MaxCPUMilli  int64 `json:"maxCPUMilli"`
	MinMemoryMiB int64 `json:"minMemoryMiB"`
	MaxMemoryMiB int64 `json:"maxMemoryMiB"`
	// GPU is the nvidia.com/gpu limit.
	GPU             int64 `json:"gpu,omitempty"`
	MaxUnavailable  int32 `json:"maxUnavailable"`
	MaxSurge        int32 `json:"maxSurge"`
	MinReadySeconds int32 `json:"minReadySeconds"`
}

// HPASpec is a HorizontalPodAutoscaler's bounds and targets (percent of
// the requests; 0 leaves a metric out).
type HPASpec struct {
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
	CPUPercent  int32 `json:"cpuPercent,omitempty"`
	MemPercent  int32 `json:"memPercent,omitempty"`
}

// PullSecretRef names an external repository whose credentials the agent
// fetches from the hub (PullSecretsPath) to make a
// kubernetes.io/dockerconfigjson Secret. Fingerprint changes when the
// credentials change, so that the workload item changes and is re-applied.
type PullSecretRef struct {
	RepositoryID string `json:"repositoryId"`
	Fingerprint  string `json:"fingerprint"`
}

// Pod Security Standard levels of a business (Kubernetes Pod Security
// Admission), from the most to the least constrained.
const (
	PodSecurityRestricted = "restricted"
	PodSecurityBaseline   = "baseline"
	PodSecurityPrivileged = "privileged"
)

// ValidPodSecurity reports whether level is one of the three levels.
func ValidPodSecurity(level string) bool {
	switch level {
	case PodSecurityRestricted, PodSecurityBaseline, PodSecurityPrivileged:
		return true
	}
	return false
}

// PodSecurityLabelPrefix starts the Pod Security Admission labels of a
// namespace: PodSecurityLabelPrefix + "enforce", "warn" and "audit", each
// with its "-version".
const PodSecurityLabelPrefix = "pod-security.kubernetes.io/"

// PodSecurityLabels are the namespace labels that make the API server
// enforce, warn about and audit level, at the latest version of the
// standards that the API server knows.
func PodSecurityLabels(level string) map[string]string {
	out := map[string]string{}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		out[PodSecurityLabelPrefix+mode] = level
		out[PodSecurityLabelPrefix+mode+"-version"] = "latest"
	}
	return out
}
