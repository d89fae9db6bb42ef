package tunnel

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ote-stack/ote/protocol"
)

// fakeCharts is a ChartDrifter at the seam: the release drifted until it
// is repaired.
type fakeCharts struct {
	mu       sync.Mutex
	drifted  bool
	repaired int
}

func (f *fakeCharts) Drift(context.Context, string, string) ([]protocol.Drift, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.drifted {
		return nil, nil
	}
	return []protocol.Drift{{Object: "Deployment/db", Field: "spec.replicas", Desired: "2", Actual: "4", Manager: "kubectl (scale)"}}, nil
}

func (f *fakeCharts) Repair(context.Context, string, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drifted = false
	f.repaired++
	return nil
}

func (f *fakeCharts) repairs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.repaired
}

func chartItem(t *testing.T, name string, rev uint64, policy string) protocol.Item {
	t.Helper()
	spec, err := json.Marshal(protocol.WorkloadSpec{Namespace: "ns1", Name: name, App: name, Version: "1.0", DriftPolicy: policy,
		Chart: &protocol.ChartSpec{Digest: "sha256:00", Name: name, Version: "0.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Item{ItemKey: protocol.ItemKey{Kind: protocol.ItemWorkload, Name: "ns1/" + name}, Revision: rev, Spec: spec}
}

// TestChartDriftReportedAndRepaired: the agent checks its applied chart
// workloads on its period; a drift is sent to the hub with the workload's
// status, marked corrected once the release is repaired, and with the
// policy report it is sent and the release left alone.
func TestChartDriftReportedAndRepaired(t *testing.T) {
	for _, policy := range []string{"", protocol.DriftReport} {
		t.Run("policy="+policy, func(t *testing.T) {
			h := newFakeHub(t)
			h.desired = []protocol.Item{chartItem(t, "db", 1, policy)}
			charts := &fakeCharts{}
			c := newClientWith(t, h, newGateApplier(nil), func(cfg *Config) {
				cfg.Charts, cfg.ChartDriftEvery = charts, 20*time.Millisecond
			})
			run(t, c)
			<-h.conns
			eventually(t, "db applied", func() bool {
				st, ok, _ := h.latestStatus("ns1/db")
				return ok && st.State == protocol.StateApplied
			})
			charts.mu.Lock()
			charts.drifted = true
			charts.mu.Unlock()
			var got protocol.ItemStatus
			eventually(t, "the drift reported", func() bool {
				st, ok, _ := h.latestStatus("ns1/db")
				got = st
				return ok && len(st.Drift) == 1
			})
			d := got.Drift[0]
			if d.Manager != "kubectl (scale)" || d.At == 0 || got.Revision != 1 || got.State != protocol.StateApplied {
				t.Fatalf("status %+v, drift %+v", got, d)
			}
			if policy == protocol.DriftReport {
				if d.Corrected || charts.repairs() != 0 {
					t.Fatalf("policy report: corrected %v, %d repairs", d.Corrected, charts.repairs())
				}
				return
			}
			if !d.Corrected || charts.repairs() != 1 {
				t.Fatalf("policy correct: corrected %v, %d repairs", d.Corrected, charts.repairs())
			}
		})
	}
}
