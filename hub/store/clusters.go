package store

import (
	"context"
	"time"
)

// Clusters are the edge clusters that joined the hub, and their labels.
type Clusters interface {
	// JoinCluster creates cluster name with the digest of its credential. For
	// a cluster whose agent never connected with its credential (the agent
	// died before keeping it), the digest is replaced. ErrClusterJoined
	// otherwise.
	JoinCluster(ctx context.Context, name string, credentialHash []byte) (*Cluster, error)
	ClusterByName(ctx context.Context, name string) (*Cluster, error)
	ListClusters(ctx context.Context, q ClusterQuery) ([]Cluster, int64, error)
	// ClusterConnected records that session holds the cluster's tunnel now.
	ClusterConnected(ctx context.Context, id uint64, session, agentVersion string, at time.Time) error
	// ClusterDisconnected records the end of session, unless a newer session
	// took over meanwhile.
	ClusterDisconnected(ctx context.Context, id uint64, session string, at time.Time) error
	// RecordSessions applies the starts and ends of tunnel sessions in
	// order, many clusters' in one write (the tunnel batches them).
	RecordSessions(ctx context.Context, events []SessionEvent) error
	// ClusterSessions says which session holds each cluster's tunnel now
	// ("" for none yet), for the clusters of ids that exist: hub replicas
	// close the sessions another replica's newer one has replaced.
	ClusterSessions(ctx context.Context, ids []uint64) (map[uint64]string, error)
	// TouchClusters records that the clusters' agents were heard from at at.
	TouchClusters(ctx context.Context, ids []uint64, at time.Time) error

	// AddClusterLabel labels every named cluster; ErrNotFound (and no change)
	// if one does not exist.
	AddClusterLabel(ctx context.Context, clusters []string, label string) error
	RemoveClusterLabel(ctx context.Context, clusters []string, label string) error
	// ClusterLabelNames lists every distinct cluster label.
	ClusterLabelNames(ctx context.Context) ([]string, error)
	ClusterLabels(ctx context.Context, cluster string, p Page) ([]Label, int64, error)
}

// SessionEvent is the start (Connected) or end of a cluster's tunnel
// session. An end applies only while Session is still the cluster's.
type SessionEvent struct {
	ClusterID    uint64
	Session      string
	Connected    bool
	AgentVersion string // of a start
	At           time.Time
}

// InventoryReport is one cluster's inventory: the whole of it (Full: nodes
// not in Nodes are removed) or upserts of Nodes and removals of Removed.
type InventoryReport struct {
	ClusterID uint64
	Full      bool
	Nodes     []Node
	Removed   []string
}

// Cluster is an edge cluster.
type Cluster struct {
	ID             uint64
	Name           string
	CredentialHash []byte
	// Online: an agent session is open on some hub replica.
	Online bool
	// Session is the ID of the newest session.
	Session      string
	AgentVersion string
	// FirstConnectedAt is zero until the agent connects with its credential.
	FirstConnectedAt time.Time
	// LastSeen is when the agent was last heard from.
	LastSeen time.Time
	// NodeCount and ReadyNodeCount are filled by ListClusters.
	NodeCount      int64
	ReadyNodeCount int64
	// Labels are filled by ListClusters.
	Labels    []string
	CreatedAt time.Time
}

// Ready reports whether the cluster's agent is connected and was heard from
// within window (three heartbeat periods) before now.
func (c *Cluster) Ready(now time.Time, window time.Duration) bool {
	return c.Online && now.Sub(c.LastSeen) < window
}

// ClusterQuery selects and pages clusters.
type ClusterQuery struct {
	// Label keeps clusters that carry it; empty keeps all.
	Label string
	Page  Page
}

// Label is a label with its creation time.
type Label struct {
	Name      string
	CreatedAt time.Time
}

// Nodes are the clusters' nodes as their agents report them, and node labels.
type Nodes interface {
	// ReplaceNodes makes nodes the whole inventory of cluster id.
	ReplaceNodes(ctx context.Context, clusterID uint64, nodes []Node) error
	// UpdateNodes upserts nodes and deletes removed.
	UpdateNodes(ctx context.Context, clusterID uint64, nodes []Node, removed []string) error
	// SaveInventories applies the inventory reports of many clusters in
	// one write (the tunnel batches them).
	SaveInventories(ctx context.Context, reports []InventoryReport) error
	ListNodes(ctx context.Context, q NodeQuery) ([]Node, int64, error)
	// CountReadyNodes counts the nodes of q that report ready in clusters
	// heard from since readySince.
	CountReadyNodes(ctx context.Context, q NodeQuery, readySince time.Time) (int64, error)

	// AddNodeLabel labels nodes of a cluster, in the hub and, through desired
	// items, on the Kubernetes Nodes. ErrNotFound (and no change) when the
	// cluster or a node does not exist.
	AddNodeLabel(ctx context.Context, cluster string, nodes []string, label string) error
	// RemoveNodeLabel takes label off nodes. With evict, the agents also
	// delete the pods that the label placed on those nodes (deleteDeploy).
	RemoveNodeLabel(ctx context.Context, cluster string, nodes []string, label string, evict bool) error
	// NodeLabelNames lists the distinct node labels, of one cluster or all.
	NodeLabelNames(ctx context.Context, cluster string) ([]string, error)
}

// Node is one node of a cluster.
type Node struct {
	ClusterID       uint64
	ClusterName     string
	Name            string
	OperatingSystem string
	OSImage         string
	KernelVersion   string
	IP              string
	CPU             int64
	Memory          int64
	Disk            int64
	GPUCount        int64
	GPUMemory       int64
	// Ready is the node's own Ready condition as last reported.
	Ready bool
	// ClusterOnline and ClusterLastSeen are the cluster's, filled by ListNodes.
	ClusterOnline   bool
	ClusterLastSeen time.Time
	Labels          []string
	UpdatedAt       time.Time
}

// NodeQuery selects and pages nodes. Empty fields do not filter.
type NodeQuery struct {
	ClusterName string
	NodeName    string
	Label       string
	Page        Page
}

// Desired is the state the hub wants in the clusters: items with revisions.
type Desired interface {
	// DesiredSince returns the items of cluster id (and those for all
	// clusters) written after revision after, in revision order, at most
	// limit of them.
	DesiredSince(ctx context.Context, clusterID uint64, after uint64, limit int) ([]DesiredItem, error)
	// DesiredTail returns items of every scope written after revision after.
	DesiredTail(ctx context.Context, after uint64, limit int) ([]DesiredItem, error)
	// Revision is the newest revision written.
	Revision(ctx context.Context) (uint64, error)
	// SaveItemStatuses records what agents reported.
	SaveItemStatuses(ctx context.Context, statuses []ItemStatus) error
	ItemStatuses(ctx context.Context, clusterID uint64) ([]ItemStatus, error)
}

// AllClusters is the ClusterID of desired items meant for every cluster.
const AllClusters = 0

// Kinds of desired items (the same strings as the protocol's item kinds).
const (
	ItemNamespace = "namespace"
	ItemNodeLabel = "nodelabel"
	ItemWorkload  = "workload"
)

// DesiredItem is the latest state of one desired item.
type DesiredItem struct {
	// ClusterID is AllClusters or one cluster.
	ClusterID uint64
	Kind      string
	Name      string
	Revision  uint64
	Deleted   bool
	Spec      []byte
}

// ItemStatus is an agent's report on one item.
type ItemStatus struct {
	ClusterID uint64
	Kind      string
	Name      string
	Revision  uint64
	State     string
	Message   string
	// Pods are a workload's pod counts; nil when not reported.
	Pods      *PodCounts
	UpdatedAt time.Time
}

// PodCounts are the pods of one workload in one cluster.
type PodCounts struct {
	Desired, Running, Failed int32
}
