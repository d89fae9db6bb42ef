package deploy

import (
	"testing"

	"github.com/ote-stack/ote/hub/store"
)

func report(rev uint64, state string, pods *store.PodCounts) *store.ItemStatus {
	return &store.ItemStatus{Revision: rev, State: state, Pods: pods}
}

func TestClusterHealth(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *store.ItemStatus
		want Health
		line string
	}{
		{"no report", nil, Waiting, "waiting for the agent"},
		{"older revision", report(4, "applied", &store.PodCounts{Desired: 1, Running: 1}), Waiting, "waiting for the agent"},
		{"apply failed", report(5, "failed", nil), Failed, "failed: quota exceeded"},
		{"applying", report(5, "applying", nil), Waiting, "applying"},
		{"no pods yet", report(5, "applied", nil), Waiting, "applied, pods not reported yet"},
		{"all running", report(5, "applied", &store.PodCounts{Desired: 2, Running: 2}), Healthy, "2/2 pods running"},
		{"none asked", report(5, "applied", &store.PodCounts{}), Healthy, "0/0 pods running (none asked for)"},
		{"all failing", report(5, "applied", &store.PodCounts{Desired: 2, Failed: 2}), Failed, "0/2 pods running, 2 failed"},
		{"some failing", report(5, "applied", &store.PodCounts{Desired: 2, Running: 1, Failed: 1}), Waiting, "1/2 pods running, 1 failed"},
		{"starting", report(6, "applied", &store.PodCounts{Desired: 3, Running: 1}), Waiting, "1/3 pods running"},
	} {
		if tc.r != nil && tc.r.State == "failed" {
			tc.r.Message = "quota exceeded"
		}
		h, line := ClusterHealth(tc.r, 5)
		if h != tc.want || line != tc.line {
			t.Errorf("%s: ClusterHealth = %v %q, want %v %q", tc.name, h, line, tc.want, tc.line)
		}
	}
}

func TestAggregate(t *testing.T) {
	ok := report(3, "applied", &store.PodCounts{Desired: 1, Running: 1})
	bad := report(3, "failed", nil)
	bad.Message = "denied"
	for _, tc := range []struct {
		name    string
		targets []Target
		status  store.DeployStatus
		msg     string
	}{
		{"no target", nil, store.DeployProcessing, ""},
		{"all healthy", []Target{{"b", 3, ok}, {"a", 3, ok}}, store.DeploySuccess, "a: 1/1 pods running; b: 1/1 pods running"},
		{"one waiting", []Target{{"a", 3, ok}, {"b", 3, nil}, {"c", 3, bad}}, store.DeployDeploying,
			"a: 1/1 pods running; b: waiting for the agent; c: failed: denied"},
		{"all failed", []Target{{"a", 3, bad}}, store.DeployFailed, "a: failed: denied"},
		{"some failed", []Target{{"a", 3, ok}, {"b", 3, bad}}, store.DeployPartial, "a: 1/1 pods running; b: failed: denied"},
		{"new revision pending", []Target{{"a", 4, ok}}, store.DeployDeploying, "a: waiting for the agent"},
	} {
		status, msg := Aggregate(tc.targets)
		if status != tc.status || msg != tc.msg {
			t.Errorf("%s: Aggregate = %d %q, want %d %q", tc.name, status, msg, tc.status, tc.msg)
		}
	}
}
