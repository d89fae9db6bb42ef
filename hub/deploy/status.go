package deploy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// Health is one cluster's state of a workload.
type Health int

const (
	// Waiting: the agent has not reported the live revision yet, is
	// applying it, or pods are starting.
	Waiting Health = iota
	// Healthy: every desired pod runs (or none is asked for).
	Healthy
	// Failed: the apply failed, or pods fail and none runs.
	Failed
)

// ClusterHealth reads one cluster's report on a workload (nil: none yet)
// against the revision it must have applied, and gives the line
// errorMessage shows for the cluster.
func ClusterHealth(r *store.ItemStatus, want uint64) (Health, string) {
	switch {
	case r == nil || r.Revision < want:
		return Waiting, "waiting for the agent"
	case r.State == "failed":
		return Failed, "failed: " + r.Message
	case r.State == string(protocol.StateApplying):
		return Waiting, "applying"
	}
	p := r.Pods
	if p == nil {
		return Waiting, "applied, pods not reported yet"
	}
	line := fmt.Sprintf("%d/%d pods running", p.Running, p.Desired)
	if p.Failed > 0 {
		line += fmt.Sprintf(", %d failed", p.Failed)
	}
	switch {
	case p.Desired > 0 && p.Running >= p.Desired:
		return Healthy, line
	case p.Desired == 0 && p.Failed == 0:
		return Healthy, line + " (none asked for)"
	case p.Failed > 0 && p.Running == 0:
		return Failed, line
	default:
		return Waiting, line
	}
}

// Target is one cluster a workload is desired in: the revision its agent
// must apply and its last report (nil: none).
type Target struct {
	Cluster string
	Want    uint64
	Report  *store.ItemStatus
}

// Aggregate is a deployment's status from its targets' reports: success
// when every target runs the live revision, failed when all failed,
// partial success when some did each, deploying while any is waiting, and
// processing while there is no target at all. The message names each
// cluster's state, sorted by cluster name.
func Aggregate(targets []Target) (store.DeployStatus, string) {
	if len(targets) == 0 {
		return store.DeployProcessing, ""
	}
	var healthy, failed, waiting int
	lines := make([]string, 0, len(targets))
	for _, t := range targets {
		h, line := ClusterHealth(t.Report, t.Want)
		lines = append(lines, t.Cluster+": "+line)
		switch h {
		case Healthy:
			healthy++
		case Failed:
			failed++
		default:
			waiting++
		}
	}
	sort.Strings(lines)
	msg := strings.Join(lines, "; ")
	switch {
	case waiting > 0:
		return store.DeployDeploying, msg
	case failed == 0:
		return store.DeploySuccess, msg
	case healthy == 0:
		return store.DeployFailed, msg
	default:
		return store.DeployPartial, msg
	}
}
