package protocol

import (
	"encoding/json"
	"fmt"
)

// HTTP paths and headers of joining and of the tunnel.
const (
	JoinPath   = "/v1/agent/join"
	TunnelPath = "/v1/agent/tunnel"
	// ChartsPath serves chart archives to agents: ChartsPath + "/" + digest,
	// with the tunnel's headers.
	ChartsPath = "/v1/agent/charts"
	// PullSecretsPath serves the .dockerconfigjson of an external repository:
	// PullSecretsPath + "/<namespace>/<repositoryId>", with the tunnel's headers.
	PullSecretsPath      = "/v1/agent/pullsecrets"
	HeaderBootstrapToken = "X-OTE-Bootstrap-Token"
	HeaderCluster        = "X-OTE-Cluster"
	HeaderProtocol       = "X-OTE-Protocol"
)

// MaxMessageSize bounds one tunnel message, in bytes, on both sides.
const MaxMessageSize = 4 << 20

// JoinRequest is the body of POST JoinPath.
type JoinRequest struct {
	// ClusterName names the new cluster: a DNS label (1-63 lower case
	// letters, digits and '-').
	ClusterName string `json:"clusterName"`
}

// JoinResponse is the data of a successful join.
type JoinResponse struct {
	ClusterName string `json:"clusterName"`
	// Credential authenticates the cluster's tunnel from now on. The hub keeps
	// only its SHA-256 digest; it is shown this once.
	Credential string `json:"credential"`
}

// Kind tells which body a Message carries.
type Kind string

const (
	KindHello     Kind = "hello"
	KindWelcome   Kind = "welcome"
	KindDesired   Kind = "desired"
	KindStatus    Kind = "status"
	KindInventory Kind = "inventory"
	KindHeartbeat Kind = "heartbeat"
	KindError     Kind = "error"
)

func (k Kind) String() string { return string(k) }

// Message is one tunnel message: Kind and the body of that kind.
type Message struct {
	Kind Kind `json:"kind"`
	// Cluster, when set, names the cluster the message is about; the hub
	// refuses a message that names another cluster than the session's.
	Cluster   string     `json:"cluster,omitempty"`
	Hello     *Hello     `json:"hello,omitempty"`
	Welcome   *Welcome   `json:"welcome,omitempty"`
	Desired   *Desired   `json:"desired,omitempty"`
	Status    *Status    `json:"status,omitempty"`
	Inventory *Inventory `json:"inventory,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	Error     *Error     `json:"error,omitempty"`

	// Skipped, filled by Decode and never sent, names what the message
	// held that this version does not know (item kinds, states) and that
	// Decode dropped: the receiver logs it and goes on (see Version).
	Skipped []string `json:"-"`
}

// Hello is the agent's first message on a tunnel.
type Hello struct {
	// ProtocolVersion is the agent's Version.
	ProtocolVersion int `json:"protocolVersion"`
	// AgentVersion is the agent's build, for display.
	AgentVersion string `json:"agentVersion,omitempty"`
	// AppliedRevision is the highest revision the agent has processed in this
	// process's life; 0 asks for the full desired state.
	AppliedRevision uint64 `json:"appliedRevision"`
}

// Welcome answers Hello.
type Welcome struct {
	ProtocolVersion int `json:"protocolVersion"`
	// HeartbeatMillis is how often the agent must send Heartbeat; the hub
	// marks the cluster not ready after three silent periods.
	HeartbeatMillis int64 `json:"heartbeatMillis"`
	// Revision is the hub's newest revision for this cluster when it answered.
	Revision uint64 `json:"revision"`
}

// ItemKind is the kind of a desired item.
type ItemKind string

const (
	// ItemNamespace: a namespace that must exist. Name is the namespace.
	ItemNamespace ItemKind = "namespace"
	// ItemNodeLabel: an OTE label on a Node. Name is "<node>/<label>".
	ItemNodeLabel ItemKind = "nodelabel"
	// ItemWorkload: a deployment's workload (WorkloadSpec). Name is
	// "<namespace>/<deployment name>".
	ItemWorkload ItemKind = "workload"
)

// ItemKey identifies a desired item within a cluster.
type ItemKey struct {
	Kind ItemKind `json:"kind"`
	Name string   `json:"name"`
}

func (k ItemKey) String() string { return string(k.Kind) + "/" + k.Name }

// Item is the latest state of one desired item.
type Item struct {
	ItemKey
	// Revision is the revision at which this state was written.
	Revision uint64 `json:"revision"`
	// Deleted means the item must no longer exist.
	Deleted bool `json:"deleted,omitempty"`
	// Spec is the kind's spec (NamespaceSpec, NodeLabelSpec, WorkloadSpec).
	// A deleted item has none, except a node label removed with eviction
	// (NodeLabelSpec.Evict).
	Spec json.RawMessage `json:"spec,omitempty"`
}

// NamespaceSpec is the spec of ItemNamespace.
type NamespaceSpec struct {
	// Labels are set on the namespace.
	Labels map[string]string `json:"labels,omitempty"`
}

// NodeLabelSpec is the spec of ItemNodeLabel.
type NodeLabelSpec struct {
	Node  string `json:"node"`
	Label string `json:"label"`
	// Evict, on a deleted item, also deletes the pods on Node whose
	// nodeSelector asks for the label.
	Evict bool `json:"evict,omitempty"`
}

// NodeLabelPrefix is the Kubernetes label key prefix of OTE node labels: the
// API's label "gpu-a" becomes "label.ote-stack.io/gpu-a": "true" on the Node.
const NodeLabelPrefix = "label.ote-stack.io/"

// NodeLabelKey is the Kubernetes label key of an OTE node label.
func NodeLabelKey(label string) string { return NodeLabelPrefix + label }

// Desired carries items in increasing revision order.
type Desired struct {
	Items []Item `json:"items"`
	// Resync marks the answer to Hello (what changed since AppliedRevision).
	Resync bool `json:"resync,omitempty"`
	// UpTo is the revision the agent has caught up to once it has processed
	// this message (at least the last item's revision).
	UpTo uint64 `json:"upTo"`
}

// ItemState is the outcome of applying an item.
type ItemState string

const (
	StateApplied ItemState = "applied"
	StateFailed  ItemState = "failed"
	// StateApplying (optional, 2026-12-01): the revision's apply has
	// started and not ended yet (a chart that installs for minutes). The
	// revision's applied or failed status follows it.
	StateApplying ItemState = "applying"
)

// ItemStatus reports the outcome of applying one revision of one item.
type ItemStatus struct {
	ItemKey
	Revision uint64    `json:"revision"`
	State    ItemState `json:"state"`
	// Message explains a failure (the API server's reason).
	Message string `json:"message,omitempty"`
	// Pods counts a workload's pods (workload items only); the agent sends
	// a new status whenever they change.
	Pods *PodCounts `json:"pods,omitempty"`
	// Drift lists the fields of an applied workload that someone else
	// changed in the cluster since the agent applied it (optional,
	// 2026-12-02).
	Drift []Drift `json:"drift,omitempty"`
}

// Drift is one out-of-band change of an applied workload: a field the
// agent applied that another field manager changed (kubectl edit, kubectl
// scale, another controller).
type Drift struct {
	// Object is the Kubernetes kind and name changed ("Deployment/web").
	Object string `json:"object"`
	// Field is the path changed, such as spec.replicas or
	// spec.template.spec.containers[app].image.
	Field string `json:"field"`
	// Desired is what the agent applied; Actual what the cluster holds.
	Desired string `json:"desired"`
	Actual  string `json:"actual"`
	// Manager is the field manager that owns the field now (from the
	// object's managedFields; "" when none says), and At when it wrote it
	// (Unix seconds; 0 when unknown).
	Manager string `json:"manager"`
	At      int64  `json:"at"`
	// Corrected: the agent applies the workload again (the drift policy
	// is "correct").
	Corrected bool `json:"corrected"`
}

// PodCounts are the pods of one workload in one cluster.
type PodCounts struct {
	// Desired is how many should run (the replicas; for a daemonset or an
	// autoscaled deployment, the pods that exist).
	Desired int32 `json:"desired"`
	// Running are running and ready.
	Running int32 `json:"running"`
	// Failed have failed or cannot start (crash loop, image pull errors).
	Failed int32 `json:"failed"`
}

// Status carries item outcomes.
type Status struct {
	Items []ItemStatus `json:"items"`
	// AppliedRevision is the highest revision the agent has processed.
	AppliedRevision uint64 `json:"appliedRevision"`
}

// Node is what the hub knows of one Kubernetes Node.
type Node struct {
	Name            string `json:"name"`
	OperatingSystem string `json:"operatingSystem"`
	OSImage         string `json:"osImage"`
	KernelVersion   string `json:"kernelVersion"`
	IP              string `json:"ip"`
	// CPU is the capacity in whole cores.
	CPU int64 `json:"cpu"`
	// Memory and Disk (ephemeral-storage) capacity in bytes.
	Memory int64 `json:"memory"`
	Disk   int64 `json:"disk"`
	// GPUCount is the nvidia.com/gpu capacity.
	GPUCount int64 `json:"gpuCount"`
	// GPUMemory is GPUCount times the per-GPU memory that GPU feature
	// discovery publishes (label nvidia.com/gpu.memory, MiB), in bytes; 0 when
	// the label is absent.
	GPUMemory int64 `json:"gpuMemory"`
	Ready     bool  `json:"ready"`
}

// Inventory reports nodes: a full snapshot replaces what the hub knew of the
// cluster; a delta upserts Nodes and removes Removed.
type Inventory struct {
	Full    bool     `json:"full"`
	Nodes   []Node   `json:"nodes"`
	Removed []string `json:"removed,omitempty"`
}

// Heartbeat keeps the cluster ready.
type Heartbeat struct {
	// UnixMillis is the sender's clock, for display.
	UnixMillis int64 `json:"unixMillis"`
}

// Error is a refusal; its sender closes the session after sending it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMillis, with ErrCodeShutdown, is when the agent should dial
	// again (since version 2): the hub draws it over a window that fits its
	// listen backlog, so that a restart's reconnects arrive spread out
	// rather than all at once. 0: the agent's own backoff.
	RetryAfterMillis int64 `json:"retryAfterMillis,omitempty"`
}

// Error codes.
const (
	ErrCodeBadMessage   = "bad_message"
	ErrCodeUnsupported  = "unsupported"
	ErrCodeProtocol     = "protocol_version"
	ErrCodeReplaced     = "replaced"
	ErrCodeShutdown     = "shutdown"
	ErrCodeWrongCluster = "wrong_cluster"
	ErrCodeUnexpected   = "unexpected"
)

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
