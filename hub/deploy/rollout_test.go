package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
)

// fleet is n clusters edge-00.. carrying "edge"; the first carries "canary".
func fleet(n int) []Candidate {
	out := make([]Candidate, n)
	for i := range out {
		out[i] = Candidate{ID: uint64(i + 1), Name: fmt.Sprintf("edge-%02d", i), Labels: []string{"edge"}}
	}
	out[0].Labels = append(out[0].Labels, "canary")
	return out
}

func TestValidateStrategy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		label string
		s     store.Strategy
		field string
	}{
		{"no waves", "edge", store.Strategy{}, "strategy.waves"},
		{"unknown label", "edge", store.Strategy{Waves: []store.WaveSpec{{ClusterLabel: "gpu"}, {}}}, "strategy.waves[0].clusterLabel"},
		{"percent over 100", "edge", store.Strategy{Waves: []store.WaveSpec{{Percent: 150}}}, "strategy.waves[0].percent"},
		{"negative count", "edge", store.Strategy{Waves: []store.WaveSpec{{Count: -1}}}, "strategy.waves[0].count"},
		{"two selectors", "edge", store.Strategy{Waves: []store.WaveSpec{{Count: 1, Percent: 10}}}, "strategy.waves[0]"},
		{"the rest first", "edge", store.Strategy{Waves: []store.WaveSpec{{}, {Count: 1}}}, "strategy.waves[0]"},
		{"approval and wait", "edge", store.Strategy{Waves: []store.WaveSpec{{Count: 1, Approval: true, WaitSeconds: 5}, {}}}, "strategy.waves[0].waitSeconds"},
		{"negative maxUnavailable", "edge", store.Strategy{Waves: []store.WaveSpec{{}}, MaxUnavailable: -1}, "strategy.maxUnavailable"},
		{"short deadline", "edge", store.Strategy{Waves: []store.WaveSpec{{}}, DeadlineSeconds: 1}, "strategy.deadlineSeconds"},
	} {
		err := ValidateStrategy(&tc.s, tc.label, fleet(3))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want a refusal naming %s", tc.name, err, tc.field)
		}
	}
	s := store.Strategy{Waves: []store.WaveSpec{{ClusterLabel: "canary", Approval: true}, {Percent: 10}, {}}}
	if err := ValidateStrategy(&s, "edge", fleet(3)); err != nil || s.DeadlineSeconds != 600 {
		t.Errorf("valid strategy: %v, deadline %d (want the default 600)", err, s.DeadlineSeconds)
	}
	if err := ValidateStrategy(&s, "edge", nil); err == nil {
		t.Error("a label no cluster carries: accepted")
	}
	// A deployment to every cluster rolls out among all of them.
	if err := ValidateStrategy(&s, "", fleet(3)); err != nil {
		t.Errorf("every cluster: %v", err)
	}
}

func TestPlan(t *testing.T) {
	names := func(ws []store.Wave) string {
		var parts []string
		for _, w := range ws {
			parts = append(parts, fmt.Sprintf("%s=%v", w.Name, w.Clusters))
		}
		return strings.Join(parts, " ")
	}
	// canary first, then 10 % of 20 (2), then the rest.
	s := store.Strategy{Waves: []store.WaveSpec{{Name: "canary", ClusterLabel: "canary", Approval: true}, {Percent: 10}, {}}}
	got := Plan(&s, fleet(20))
	if want := "canary=[1] wave 2=[2 3] wave 3=[4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20]"; names(got) != want {
		t.Errorf("plan %s, want %s", names(got), want)
	}
	if !got[0].Approval || got[1].Approval {
		t.Errorf("approval carried to the wrong wave: %+v", got)
	}
	// Counts, a percentage that rounds up, leftovers as "rest", an empty
	// wave dropped.
	s = store.Strategy{Waves: []store.WaveSpec{{Count: 1}, {Percent: 1}, {ClusterLabel: "canary"}}}
	if got, want := names(Plan(&s, fleet(3))), "wave 1=[1] wave 2=[2] rest=[3]"; got != want {
		t.Errorf("plan %s, want %s", got, want)
	}
	// Every cluster lands in exactly one wave.
	s = store.Strategy{Waves: []store.WaveSpec{{Percent: 33}, {Count: 5}, {Percent: 50}}}
	var all []uint64
	for _, w := range Plan(&s, fleet(17)) {
		all = append(all, w.Clusters...)
	}
	slices.Sort(all)
	if len(all) != 17 || slices.Compact(all)[16] != 17 {
		t.Errorf("clusters across waves %v, want each of 1..17 once", all)
	}
}

func rollout(waves ...store.Wave) *store.Rollout {
	r := &store.Rollout{Waves: waves, Strategy: store.Strategy{SoakSeconds: 30, DeadlineSeconds: 600}}
	return r
}

func healthy(names ...string) []WaveCluster {
	var out []WaveCluster
	for _, n := range names {
		out = append(out, WaveCluster{Name: n, Online: true, Health: Healthy, Line: "1/1 pods running"})
	}
	return out
}

func TestStepThroughWaves(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := rollout(store.Wave{Name: "canary", Clusters: []uint64{1}, Approval: true},
		store.Wave{Name: "one", Clusters: []uint64{2}, WaitSeconds: 60}, store.Wave{Name: "last", Clusters: []uint64{3}})
	Start(r, t0)
	if m := Step(r, []WaveCluster{{Name: "a", Online: true, Health: Waiting, Line: "applying"}}, t0.Add(time.Second)); m != Hold || r.State != store.RolloutRunning {
		t.Fatalf("applying: %v %s", m, r.State)
	}
	if m := Step(r, healthy("a"), t0.Add(2*time.Second)); m != Hold || r.HealthySince != t0.Add(2*time.Second) {
		t.Fatalf("healthy: %v, since %v", m, r.HealthySince)
	}
	if m := Step(r, healthy("a"), t0.Add(31*time.Second)); m != Hold {
		t.Fatalf("still soaking: %v", m)
	}
	if m := Step(r, healthy("a"), t0.Add(32*time.Second)); m != AskApproval || r.State != store.RolloutApproval || r.Wave != 0 {
		t.Fatalf("soaked: %v %s wave %d, want an approval request for the next wave", m, r.State, r.Wave)
	}
	if m := Step(r, healthy("a"), t0.Add(time.Hour)); m != Hold {
		t.Fatalf("waiting for approval, stepped: %v", m)
	}
	if m, err := ApproveWave(r, t0.Add(40*time.Second)); m != StartWave || err != nil || r.Wave != 1 || r.State != store.RolloutRunning {
		t.Fatalf("approved: %v %v wave %d %s", m, err, r.Wave, r.State)
	}
	if _, err := ApproveWave(r, t0); err == nil {
		t.Fatal("a second approval was accepted")
	}
	t1 := t0.Add(40 * time.Second)
	Step(r, healthy("b"), t1)
	if m := Step(r, healthy("b"), t1.Add(30*time.Second)); m != Hold || r.State != store.RolloutWaiting {
		t.Fatalf("wave one soaked: %v %s, want the wait", m, r.State)
	}
	if m := Step(r, nil, t1.Add(89*time.Second)); m != Hold {
		t.Fatalf("wait not over: %v", m)
	}
	if m := Step(r, nil, t1.Add(90*time.Second)); m != StartWave || r.Wave != 2 {
		t.Fatalf("wait over: %v wave %d", m, r.Wave)
	}
	t2 := t1.Add(90 * time.Second)
	Step(r, healthy("c"), t2)
	if m := Step(r, healthy("c"), t2.Add(30*time.Second)); m != Finish || r.State != store.RolloutSucceeded {
		t.Fatalf("last wave soaked: %v %s", m, r.State)
	}
	if got := Reached(r); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("reached %v", got)
	}
}

func TestStepFailsAndRollsBack(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	bad := []WaveCluster{{Name: "edge-0", Online: true, Health: Failed, Line: "0/1 pods running, 1 failed"}}
	r := rollout(store.Wave{Name: "canary", Clusters: []uint64{1}}, store.Wave{Name: "rest", Clusters: []uint64{2, 3}})
	Start(r, t0)
	if m := Step(r, bad, t0.Add(time.Second)); m != Hold || r.State != store.RolloutFailed || !strings.Contains(r.Reason, "edge-0: 0/1 pods running, 1 failed") {
		t.Fatalf("failed wave: %v %s %q", m, r.State, r.Reason)
	}
	r = rollout(store.Wave{Name: "canary", Clusters: []uint64{1}}, store.Wave{Name: "rest", Clusters: []uint64{2, 3}})
	r.Strategy.AutoRollback = true
	Start(r, t0)
	if m := Step(r, bad, t0.Add(time.Second)); m != RollBack || r.State != store.RolloutRolledBack || r.Wave != 0 {
		t.Fatalf("failed wave with autoRollback: %v %s wave %d", m, r.State, r.Wave)
	}
	if got := Reached(r); !slices.Equal(got, []uint64{1}) {
		t.Errorf("rolled back clusters %v, want the canary only", got)
	}
	// Not healthy before the deadline.
	r = rollout(store.Wave{Name: "canary", Clusters: []uint64{1}})
	Start(r, t0)
	slow := []WaveCluster{{Name: "edge-0", Online: true, Health: Waiting, Line: "0/1 pods running"}}
	if m := Step(r, slow, t0.Add(599*time.Second)); m != Hold || r.State != store.RolloutRunning {
		t.Fatalf("before the deadline: %v %s", m, r.State)
	}
	if Step(r, slow, t0.Add(600*time.Second)); r.State != store.RolloutFailed || !strings.Contains(r.Reason, "not healthy within 600s: edge-0: 0/1 pods running") {
		t.Fatalf("after the deadline: %s %q", r.State, r.Reason)
	}
}

func TestStepMaxUnavailable(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	wave := append(healthy("a", "b"), WaveCluster{Name: "c", Online: false, Health: Waiting, Line: "waiting for the agent"})
	r := rollout(store.Wave{Name: "all", Clusters: []uint64{1, 2, 3}})
	r.Strategy.SoakSeconds = 0
	Start(r, t0)
	if m := Step(r, wave, t0.Add(time.Second)); m != Hold || r.State != store.RolloutRunning || !strings.Contains(r.Reason, "2 of 3") {
		t.Fatalf("offline cluster, maxUnavailable 0: %v %s %q (want the wave to wait)", m, r.State, r.Reason)
	}
	// A cluster that applied but went offline is not counted healthy.
	wave[2] = WaveCluster{Name: "c", Online: false, Health: Healthy, Line: "1/1 pods running"}
	if m := Step(r, wave, t0.Add(2*time.Second)); m != Hold {
		t.Fatalf("offline healthy cluster counted: %v", m)
	}
	r.Strategy.MaxUnavailable = 1
	if m := Step(r, wave, t0.Add(3*time.Second)); m != Finish {
		t.Fatalf("offline cluster, maxUnavailable 1: %v %s, want the wave to pass", m, r.State)
	}
	// maxUnavailable as large as the wave still wants one healthy cluster.
	r = rollout(store.Wave{Name: "canary", Clusters: []uint64{1}})
	r.Strategy.MaxUnavailable, r.Strategy.SoakSeconds = 5, 0
	Start(r, t0)
	if m := Step(r, []WaveCluster{{Name: "a", Online: true, Health: Waiting, Line: "applying"}}, t0.Add(time.Second)); m != Hold || r.State != store.RolloutRunning {
		t.Fatalf("a one-cluster wave with maxUnavailable 5 passed with nothing healthy: %v %s", m, r.State)
	}
}

func TestAct(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := rollout(store.Wave{Name: "one", Clusters: []uint64{1}}, store.Wave{Name: "two", Clusters: []uint64{2}})
	Start(r, t0)
	var se *StateError
	if err := Act(r, store.RolloutResume, t0); !errors.As(err, &se) {
		t.Errorf("resume a running rollout: %v", err)
	}
	if err := Act(r, store.RolloutPause, t0); err != nil || r.State != store.RolloutPaused {
		t.Fatalf("pause: %v %s", err, r.State)
	}
	if m := Step(r, healthy("a"), t0.Add(time.Hour)); m != Hold || r.State != store.RolloutPaused {
		t.Fatalf("a paused rollout moved: %v %s", m, r.State)
	}
	if err := Act(r, store.RolloutResume, t0.Add(time.Hour)); err != nil || r.State != store.RolloutRunning || r.WaveStarted != t0.Add(time.Hour) {
		t.Fatalf("resume: %v %s started %v", err, r.State, r.WaveStarted)
	}
	if err := Act(r, store.RolloutAbort, t0); err != nil || r.State != store.RolloutAborted || r.State.Active() {
		t.Fatalf("abort: %v %s", err, r.State)
	}
	if err := Act(r, store.RolloutAbort, t0); !errors.As(err, &se) {
		t.Errorf("abort twice: %v", err)
	}
	var fe *FieldError
	if err := Act(r, "restart", t0); !errors.As(err, &fe) || fe.Field != "action" {
		t.Errorf("unknown action: %v", err)
	}
}
