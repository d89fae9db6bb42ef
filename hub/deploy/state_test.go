package deploy

import (
	"slices"
	"testing"

	"github.com/ote-stack/ote/hub/store"
)

func TestAfterDecision(t *testing.T) {
	for _, tc := range []struct {
		typ     store.DeployType
		approve bool
		want    Transition
	}{
		{store.DeployNew, true, Transition{Status: store.DeployProcessing, Type: store.DeployNew, Editable: true, Workload: WriteWorkload}},
		{store.DeployUpgrade, true, Transition{Status: store.DeployProcessing, Type: store.DeployUpgrade, Editable: true, Workload: WriteWorkload}},
		{store.DeployRollback, true, Transition{Status: store.DeployProcessing, Type: store.DeployRollback, Editable: true, Workload: WriteWorkload}},
		{store.DeployDeleteReq, true, Transition{Status: store.DeployDeleted, Type: store.DeployDeleteReq, Workload: RemoveWorkload}},
		{store.DeployNew, false, Transition{Status: store.DeployDisapproved, Type: store.DeployNew, Editable: true}},
		// A refused change leaves the deployment and its clusters as they were.
		{store.DeployUpgrade, false, Transition{KeepStatus: true, LastApprovedType: true, Editable: true}},
		{store.DeployDeleteReq, false, Transition{KeepStatus: true, LastApprovedType: true, Editable: true}},
	} {
		if got := AfterDecision(tc.typ, tc.approve); got != tc.want {
			t.Errorf("AfterDecision(%d, %v) = %+v, want %+v", tc.typ, tc.approve, got, tc.want)
		}
	}
}

func TestLiveAndChangeable(t *testing.T) {
	var live []store.DeployStatus
	for s := store.DeployPending; s <= store.DeployDeleted; s++ {
		if Live(s) {
			live = append(live, s)
		}
	}
	want := []store.DeployStatus{store.DeployApproved, store.DeployProcessing, store.DeployDeploying, store.DeploySuccess,
		store.DeployPartial, store.DeployFailed, store.DeployInternalError}
	if !slices.Equal(live, want) {
		t.Errorf("live statuses %v, want %v", live, want)
	}
	for _, r := range Running {
		if !Live(r) {
			t.Errorf("running status %d is not live", r)
		}
	}
	if Changeable(&store.Deploy{Editable: true, Status: store.DeployDeleted}) || Changeable(&store.Deploy{Status: store.DeploySuccess}) ||
		!Changeable(&store.Deploy{Editable: true, Status: store.DeployFailed}) {
		t.Error("Changeable: only an editable deployment that is not deleted takes a change")
	}
}

func TestFanout(t *testing.T) {
	if got := Fanout("", []uint64{4}); !slices.Equal(got, []uint64{store.AllClusters}) {
		t.Errorf("no label: %v, want every cluster", got)
	}
	if got := Fanout("edge", []uint64{2, 7}); !slices.Equal(got, []uint64{2, 7}) {
		t.Errorf("label: %v, want the labelled clusters", got)
	}
	if got := Fanout("edge", nil); len(got) != 0 {
		t.Errorf("label nobody carries: %v, want none", got)
	}
}

func TestPolicy(t *testing.T) {
	pending := &store.Deploy{Status: store.DeployPending, Editable: true}
	running := &store.Deploy{Status: store.DeploySuccess, Editable: true}
	for _, tc := range []struct {
		name string
		p    Policy
		role store.Role
		typ  store.DeployType
		d    *store.Deploy
		want bool
	}{
		{"user's new deployment", Policy{AdminAutoDeploy: true}, store.RoleUser, store.DeployNew, nil, false},
		{"admin's new deployment, auto on", Policy{AdminAutoDeploy: true}, store.RoleBusinessAdmin, store.DeployNew, nil, true},
		{"admin's upgrade, auto off", Policy{}, store.RoleBusinessAdmin, store.DeployUpgrade, running, false},
		{"deleting one that never ran", Policy{}, store.RoleUser, store.DeployDeleteReq, pending, true},
		{"deleting one that runs", Policy{}, store.RoleUser, store.DeployDeleteReq, running, false},
		{"deleting one whose first audit waits", Policy{}, store.RoleUser, store.DeployDeleteReq, &store.Deploy{Status: store.DeployPending}, false},
	} {
		v := tc.p.Decide(tc.role, tc.typ, tc.d)
		if v.Approve != tc.want || (v.Approve && v.Comment != AutoComment) || (!v.Approve && v.Comment != "") {
			t.Errorf("%s: verdict %+v, want approve=%v", tc.name, v, tc.want)
		}
	}
}
