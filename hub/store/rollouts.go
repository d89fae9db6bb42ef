package store

import "time"

// Strategy is how a change of a deployment reaches its clusters: in
// ordered waves, each let through by health, a wait or an approval.
// hub/deploy validates and plans it; the JSON is the API's.
type Strategy struct {
	Waves []WaveSpec `json:"waves"`
	// MaxUnavailable clusters of a wave may be unavailable (offline, or
	// not yet running what they were sent) while the wave counts healthy.
	MaxUnavailable int `json:"maxUnavailable"`
	// SoakSeconds: a wave is healthy once its clusters have run every
	// desired pod for this long.
	SoakSeconds int `json:"soakSeconds"`
	// DeadlineSeconds: a wave not healthy this long after it started has
	// failed (default 600).
	DeadlineSeconds int `json:"deadlineSeconds"`
	// AutoRollback returns the clusters a failed rollout changed to the
	// previous version.
	AutoRollback bool `json:"autoRollback"`
}

// WaveSpec chooses one wave among the clusters no earlier wave took: those
// that carry ClusterLabel, Count of them, or Percent of all the target
// clusters (rounded up); none of the three: all that remain.
type WaveSpec struct {
	Name         string `json:"name,omitempty"`
	ClusterLabel string `json:"clusterLabel,omitempty"`
	Count        int    `json:"count,omitempty"`
	Percent      int    `json:"percent,omitempty"`
	// What lets the next wave start once this one is healthy: an
	// approval (an audit request), or WaitSeconds; neither: at once.
	Approval    bool `json:"approval,omitempty"`
	WaitSeconds int  `json:"waitSeconds,omitempty"`
}

// Wave is a planned wave: its clusters, chosen when the change was
// approved.
type Wave struct {
	Name        string   `json:"name"`
	Clusters    []uint64 `json:"clusters"`
	Approval    bool     `json:"approval,omitempty"`
	WaitSeconds int      `json:"waitSeconds,omitempty"`
}

// RolloutState is where a rollout stands.
type RolloutState string

const (
	// RolloutRunning: the current wave is being applied or soaks.
	RolloutRunning RolloutState = "running"
	// RolloutWaiting: the current wave is healthy; the next one waits for
	// its wait to pass.
	RolloutWaiting RolloutState = "waiting"
	// RolloutApproval: the next wave waits for an audit request's approval.
	RolloutApproval RolloutState = "approval"
	// RolloutPaused: a member paused it; resume continues the wave.
	RolloutPaused RolloutState = "paused"
	// RolloutFailed: a wave failed; resume retries it, abort ends it.
	RolloutFailed RolloutState = "failed"
	// RolloutRolledBack: a wave failed and the changed clusters were
	// returned to the previous version.
	RolloutRolledBack RolloutState = "rolledBack"
	// RolloutAborted: stopped for good; clusters keep what they run.
	RolloutAborted RolloutState = "aborted"
	// RolloutSucceeded: every wave is healthy.
	RolloutSucceeded RolloutState = "succeeded"
)

// Active: the rollout holds its deployment (no other change may start).
func (s RolloutState) Active() bool {
	switch s {
	case RolloutRunning, RolloutWaiting, RolloutApproval, RolloutPaused, RolloutFailed:
		return true
	}
	return false
}

// Rollout is one change of a deployment going out wave by wave.
type Rollout struct {
	ID        uint64
	DeployID  uint64
	RequestID uint64
	Type      DeployType
	Version   string
	// PrevVersion and PrevSpec are what the clusters ran before ("" for a
	// new deployment).
	PrevVersion string
	PrevSpec    []byte
	Spec        []byte
	Strategy    Strategy
	Waves       []Wave
	// Wave is the index of the current wave.
	Wave  int
	State RolloutState
	// Reason says why the rollout stopped or what it waits for.
	Reason string
	// WaveStarted: when the current wave's clusters were sent the change.
	WaveStarted time.Time
	// HealthySince: since when the current wave is healthy (zero: not).
	HealthySince time.Time
	// GateSince: since when the next wave waits (wait or approval).
	GateSince time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RolloutAction is what a member asks of a rollout.
type RolloutAction string

const (
	RolloutPause  RolloutAction = "pause"
	RolloutResume RolloutAction = "resume"
	RolloutAbort  RolloutAction = "abort"
)

// ClusterWorkload is how one cluster runs a deployment's workload.
type ClusterWorkload struct {
	ClusterID uint64
	Cluster   string
	Online    bool
	// Version and Revision are those of the workload desired in the
	// cluster (empty and 0: none).
	Version  string
	Revision uint64
	// Report is the agent's last report (nil: none).
	Report *ItemStatus
}
