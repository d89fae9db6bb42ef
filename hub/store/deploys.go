package store

import (
	"context"
	"time"
)

// Deploys are the businesses' deployments of applications to clusters, and
// the audit requests that gate every change to them.
type Deploys interface {
	// CreateDeploy inserts d (status pending, type new) with its audit
	// request; ErrConflict when the business has the name. spec is the
	// compiled workload; when v approves, the request is approved in the
	// same transaction with it (as AuditDeploy would).
	CreateDeploy(ctx context.Context, d *Deploy, req *DeployRequest, spec []byte, v Verdict) error
	DeployByID(ctx context.Context, id uint64) (*Deploy, error)
	DeployByName(ctx context.Context, business uint64, name string) (*Deploy, error)
	ListDeploys(ctx context.Context, q DeployQuery) ([]Deploy, int64, error)
	// RequestChange files an upgrade, rollback or deletion of an editable
	// deployment, approved at once with spec when v says so;
	// ErrNotEditable when a change is in flight.
	RequestChange(ctx context.Context, deployID uint64, req *DeployRequest, spec []byte, v Verdict) error
	// AuditDeploy approves or disapproves a pending request. Approval
	// writes the deployment's desired state; disapproval changes nothing
	// in any cluster. ErrAlreadyAudited when the request is not pending.
	// spec is the compiled workload of the requested version (unused for a
	// disapproval or a deletion).
	AuditDeploy(ctx context.Context, requestID uint64, approve bool, comment string, spec []byte) (*Deploy, error)
	DeployRequestByID(ctx context.Context, id uint64) (*DeployRequest, error)
	ListDeployRequests(ctx context.Context, q DeployRequestQuery) ([]DeployRequest, int64, error)
	// LatestRollout is the deployment's newest rollout; ErrNotFound when
	// it never had one.
	LatestRollout(ctx context.Context, deployID uint64) (*Rollout, error)
	// ActOnRollout pauses, resumes or aborts the deployment's active
	// rollout (deploy.Act); ErrNotFound when none is active.
	ActOnRollout(ctx context.Context, deployID uint64, a RolloutAction, now time.Time) (*Rollout, error)
	// ClusterWorkloads is how each of clusters (nil: those the
	// deployment's workload is desired in) runs it, by cluster name.
	ClusterWorkloads(ctx context.Context, deployID uint64, clusters []uint64) ([]ClusterWorkload, error)
	// RecordDrift keeps the out-of-band changes agents reported (a
	// change already kept is not kept twice) and returns how many were
	// new.
	RecordDrift(ctx context.Context, ds []Drift) (int, error)
	// DeployDrift lists the newest limit changes of the deployment's
	// workload, newest first, with their clusters' names.
	DeployDrift(ctx context.Context, deployID uint64, limit int) ([]Drift, error)
	// StepRollouts moves every running or waiting rollout on at now
	// (deploy.Step) and reports whether it wrote desired state.
	StepRollouts(ctx context.Context, now time.Time) (bool, error)
	// DeployHistory lists the versions that have been live, newest first.
	DeployHistory(ctx context.Context, deployID uint64) ([]DeployVersion, error)
	// RefreshDeployStatus recomputes the status of the deployments whose
	// workload items (namespace/name) agents reported on.
	RefreshDeployStatus(ctx context.Context, workloads []string) error
}

// DeployType is the kind of change, numbered as in the seed.
type DeployType int

const (
	DeployNew       DeployType = 1
	DeployUpgrade   DeployType = 2
	DeployRollback  DeployType = 3
	DeployDeleteReq DeployType = 4
)

// DeployStatus is a deployment's status, numbered as in the seed.
type DeployStatus int

const (
	DeployPending       DeployStatus = 0
	DeployApproved      DeployStatus = 1
	DeployDisapproved   DeployStatus = 2
	DeployProcessing    DeployStatus = 3
	DeployDeploying     DeployStatus = 4
	DeploySuccess       DeployStatus = 5
	DeployPartial       DeployStatus = 6
	DeployFailed        DeployStatus = 7
	DeployInternalError DeployStatus = 8
	DeployDeleted       DeployStatus = 9
)

// Deploy is a deployment of one application to the clusters that carry
// ClusterLabel (all clusters when empty), on nodes that carry NodeLabel.
type Deploy struct {
	ID           uint64
	BusinessID   uint64
	BusinessName string
	Name         string
	AppName      string
	// Version is the live version (for a new deployment, the one asked).
	Version      string
	ClusterLabel string
	NodeLabel    string
	Comment      string
	// DriftPolicy: what agents do when someone else changes the workload
	// (deploy.DriftCorrect or deploy.DriftReport).
	DriftPolicy string
	Type        DeployType
	Status      DeployStatus
	// Editable: no change waits for audit or is being applied.
	Editable     bool
	ErrorMessage string
	AuditComment string
	CreatedBy    uint64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// DeployRequest is an audit request: a change to a deployment.
type DeployRequest struct {
	ID           uint64
	DeployID     uint64
	BusinessID   uint64
	BusinessName string
	AppName      string
	Version      string
	ClusterLabel string
	Type         DeployType
	// Status: 0 pending, 1 approved, 2 disapproved.
	Status      int
	Comment     string
	RequestedBy uint64
	// Strategy, when set, takes the change out in waves once approved.
	Strategy *Strategy
	// DriftPolicy, when set, becomes the deployment's once approved.
	DriftPolicy string
	// Wave, when not 0, makes the request the approval that lets wave
	// number Wave (from 1) of rollout RolloutID start, on Clusters.
	RolloutID uint64
	Wave      int
	Clusters  []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeployVersion is a version that was live.
type DeployVersion struct {
	Version string
	Since   time.Time
}

// DeployQuery selects and pages deployments.
type DeployQuery struct {
	BusinessID uint64
	AppName    string
	NameMode   NameMode
	// Editable filters when set.
	Editable *bool
	// Running keeps deployments that run somewhere (deploying, success,
	// partial success).
	Running bool
	Page    Page
}

// DeployRequestQuery selects and pages audit requests.
type DeployRequestQuery struct {
	BusinessID   uint64
	BusinessName string
	Desc         bool
	Page         Page
}

// Verdict is the audit policy's decision on a change as it is filed
// (hub/deploy decides it): approve it in the same transaction, or leave it
// pending for an administrator.
type Verdict struct {
	// Approve approves the change at once, with Comment as its audit
	// comment.
	Approve bool
	Comment string
}

// Drift is one out-of-band change an agent found in a workload it applied.
type Drift struct {
	ClusterID uint64
	// Cluster is the cluster's name (filled by DeployDrift).
	Cluster string
	// Name is the workload item's name (namespace/deployment).
	Name      string
	Object    string
	Field     string
	Desired   string
	Actual    string
	Manager   string
	At        time.Time
	Corrected bool
	// SeenAt is when the hub received the report.
	SeenAt time.Time
}
