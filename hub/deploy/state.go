package deploy

import "github.com/ote-stack/ote/hub/store"

// The life of a deployment, in the seed's numbers:
//
//	create ──► pending(0) ──approve──► processing(3) ──reports──► deploying(4)
//	              │                        ▲                        │
//	          disapprove                   │ upgrade, rollback       ▼
//	              ▼                        │ (approved)      success(5) partial(6) failed(7)
//	        disapproved(2)                 └────────────────────────┘
//	                                  delete (approved) ──► deleted(9)
//
// Each change (new, upgrade, rollback, delete) is a request that waits for
// an audit unless the policy approves it as it is filed. While one waits,
// the deployment is not editable: no other change may be filed. A refused
// change leaves the deployment as it was.

// NeverLive: nothing of the deployment has reached any cluster (it waits
// for its first audit, or that audit refused it).
func NeverLive(s store.DeployStatus) bool {
	return s == store.DeployPending || s == store.DeployDisapproved
}

// Live: the deployment's workload is desired in its clusters.
func Live(s store.DeployStatus) bool {
	return !NeverLive(s) && s != store.DeployDeleted
}

// Running are the statuses in which pods of a deployment run somewhere
// (GET /v1/deploy?running=true).
var Running = []store.DeployStatus{store.DeployDeploying, store.DeploySuccess, store.DeployPartial}

// Changeable: a change may be filed for d (none waits, it is not deleted).
func Changeable(d *store.Deploy) bool {
	return d.Editable && d.Status != store.DeployDeleted
}

// WorkloadAction is what a decision does to a deployment's workload items.
type WorkloadAction int

const (
	// KeepWorkload leaves the clusters as they are.
	KeepWorkload WorkloadAction = iota
	// WriteWorkload writes the requested version's workload to the
	// deployment's clusters.
	WriteWorkload
	// RemoveWorkload takes the workload from every cluster that has it.
	RemoveWorkload
)

// Transition is what deciding one request does to its deployment.
type Transition struct {
	// Status is the deployment's status after the decision, unless
	// KeepStatus.
	Status     store.DeployStatus
	KeepStatus bool
	// Type is the deployment's type after the decision; with
	// LastApprovedType it returns to the type of the last change approved.
	Type             store.DeployType
	LastApprovedType bool
	Editable         bool
	// Workload is what happens in the clusters. With WriteWorkload the
	// requested version becomes the live one, enters the history, and the
	// error message is cleared until agents report.
	Workload WorkloadAction
}

// AfterDecision is the transition of approving (or refusing) a request of type
// typ.
func AfterDecision(typ store.DeployType, approve bool) Transition {
	switch {
	case !approve && typ == store.DeployNew:
		return Transition{Status: store.DeployDisapproved, Type: typ, Editable: true}
	case !approve:
		return Transition{KeepStatus: true, LastApprovedType: true, Editable: true}
	case typ == store.DeployDeleteReq:
		return Transition{Status: store.DeployDeleted, Type: typ, Workload: RemoveWorkload}
	default:
		return Transition{Status: store.DeployProcessing, Type: typ, Editable: true, Workload: WriteWorkload}
	}
}

// Fanout is where a deployment's workload goes: one item for every
// cluster, present and future, without a cluster label; otherwise one per
// cluster that carries it (labelled), and clusters gain or lose it as they
// gain or lose the label.
func Fanout(clusterLabel string, labelled []uint64) []uint64 {
	if clusterLabel == "" {
		return []uint64{store.AllClusters}
	}
	return labelled
}
