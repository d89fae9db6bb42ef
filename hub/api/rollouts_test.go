package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

type rolloutOut struct {
	ID              uint64 `json:"id"`
	Version         string `json:"version"`
	PreviousVersion string `json:"previousVersion"`
	State           string `json:"state"`
	Wave            int    `json:"wave"`
	Reason          string `json:"reason"`
	Waves           []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Clusters []struct {
			Name, Version, State string
		} `json:"clusters"`
	} `json:"waves"`
}

type deployWithRollout struct {
	deployOut
	Rollout *rolloutOut `json:"rollout"`
}

type waveAuditOut struct {
	auditOut
	Comment  string   `json:"comment"`
	Wave     int      `json:"wave"`
	Clusters []string `json:"clusters"`
}

// edge is a cluster with a connected test agent that reports on one
// workload whatever a test tells it.
type edge struct {
	h     *hub
	name  string
	agent *agent
}

func (h *hub) edge(name string, labels ...string) *edge {
	h.t.Helper()
	cred := h.join(name)
	root := h.login(adminName, adminPass)
	for _, l := range labels {
		h.expect(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{name}, "clusterLabel": l})
	}
	a, _, _ := h.connect(name, cred, 0)
	a.readAll()
	return &edge{h: h, name: name, agent: a}
}

// readAll reads, and drops, whatever the hub sends until the connection
// closes, as a live agent reads: reading is what answers the hub's pings,
// and a test that outlasts three heartbeats without it has its session
// closed for not reading.
func (a *agent) readAll() {
	done := make(chan struct{})
	a.conn.SetReadDeadline(time.Time{}) // expect's deadline would end the loop at once
	go func() {
		defer close(done)
		for {
			if _, _, err := a.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	a.t.Cleanup(func() { a.conn.Close(); <-done })
}

// item is the workload item wn that the cluster's agent runs: of the
// cluster's items and those for every cluster, the newest revision of the
// key (nil: none, or a tombstone).
func (e *edge) item(wn string) *store.DesiredItem {
	e.h.t.Helper()
	cl, err := e.h.store.ClusterByName(context.Background(), e.name)
	if err != nil {
		e.h.t.Fatal(err)
	}
	items, _ := e.h.store.DesiredSince(context.Background(), cl.ID, 0, 1000)
	var newest *store.DesiredItem
	for i := range items {
		if items[i].Kind == store.ItemWorkload && items[i].Name == wn {
			newest = &items[i]
		}
	}
	if newest == nil || newest.Deleted {
		return nil
	}
	return newest
}

// version is the app version of workload wn desired in the cluster.
func (e *edge) version(wn string) string {
	it := e.item(wn)
	if it == nil {
		return ""
	}
	var ws protocol.WorkloadSpec
	json.Unmarshal(it.Spec, &ws)
	return ws.Version
}

// report answers for the newest revision of wn in the cluster.
func (e *edge) report(wn string, state protocol.ItemState, pods *protocol.PodCounts) {
	e.h.t.Helper()
	it := e.item(wn)
	if it == nil {
		e.h.t.Fatalf("no workload %s in %s", wn, e.name)
	}
	key := protocol.ItemKey{Kind: protocol.ItemWorkload, Name: wn}
	e.agent.send(&protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: []protocol.ItemStatus{{ItemKey: key, Revision: it.Revision, State: state, Pods: pods}}}})
}

func (e *edge) healthy(wn string) {
	e.report(wn, protocol.StateApplied, &protocol.PodCounts{Desired: 2, Running: 2})
}

func (h *hub) rollout(token string, id uint64) deployWithRollout {
	h.t.Helper()
	var d deployWithRollout
	h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", id), token, nil).into(h.t, &d)
	return d
}

func (h *hub) waitRollout(token string, id uint64, what string, cond func(d deployWithRollout) bool) deployWithRollout {
	h.t.Helper()
	var last deployWithRollout
	h.waitFor(what, func() bool {
		last = h.rollout(token, id)
		return cond(last)
	})
	return last
}

func (h *hub) waveAudit(token string, deployID uint64) waveAuditOut {
	h.t.Helper()
	var as []waveAuditOut
	h.expect(200, "GET", "/v1/admin/deploy?pageSize=100&desc=true", token, nil).into(h.t, &as)
	for _, a := range as {
		if a.DeployID == deployID && a.Status == 0 && a.Wave > 0 {
			return a
		}
	}
	h.t.Fatalf("no pending wave approval for deployment %d in %+v", deployID, as)
	return waveAuditOut{}
}

func state(want string) func(d deployWithRollout) bool {
	return func(d deployWithRollout) bool { return d.Rollout != nil && d.Rollout.State == want }
}

func TestRolloutInWaves(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		_, worker := h.subUser(acme.token, "worker", false)
		for _, v := range []string{"1.0", "2.0", "3.0"} {
			h.expect(200, "POST", "/v1/app", acme.token, appBody("web", v))
		}
		e1, e2, e3 := h.edge("edge-1", "edge", "canary"), h.edge("edge-2", "edge"), h.edge("edge-3", "edge")
		edges := []*edge{e1, e2, e3}
		wn := fmt.Sprintf("ns%d/web", acme.business.ID)

		// Version 1.0 everywhere at once: no strategy, as before.
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", worker, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge"}).into(t, &d)
		h.decide(acme.token, d.ID, 1)
		for _, e := range edges {
			if v := e.version(wn); v != "1.0" {
				t.Fatalf("%s desires version %q after an approval without strategy", e.name, v)
			}
			e.healthy(wn)
		}
		h.waitFor("1.0 succeeds", func() bool { return h.getDeploy(worker, d.ID).Status == 5 })
		if got := h.rollout(worker, d.ID); got.Rollout != nil {
			t.Fatalf("a deployment without strategy shows a rollout: %+v", got.Rollout)
		}

		// Bad strategies are refused naming the field, and change nothing.
		strategy := func(waves ...map[string]any) map[string]any {
			return map[string]any{"waves": waves, "soakSeconds": 0}
		}
		upgrade := func(version string, st map[string]any) *reply {
			return h.do("POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": version, "comment": "rollout", "strategy": st})
		}
		for field, st := range map[string]map[string]any{
			"strategy.waves":                 strategy(),
			"strategy.waves[0].clusterLabel": strategy(map[string]any{"clusterLabel": "gpu"}, map[string]any{}),
			"strategy.waves[1].percent":      strategy(map[string]any{"clusterLabel": "canary"}, map[string]any{"percent": 150}),
			"strategy.waves[0]":              strategy(map[string]any{"count": 1, "percent": 10}),
			"strategy.maxUnavailable":        {"waves": []map[string]any{{}}, "maxUnavailable": -1},
		} {
			if r := upgrade("2.0", st); r.Status != 422 || !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("%s: %d %q", field, r.Status, r.Message)
			}
		}
		if r := h.expect(422, "POST", "/v1/deploy", worker, map[string]any{"deployName": "all", "appName": "web", "version": "1.0",
			"strategy": strategy(map[string]any{"clusterLabel": "gpu"}, map[string]any{})}); !strings.HasPrefix(r.Message, "strategy.waves[0].clusterLabel:") {
			t.Errorf("a wave label no cluster carries, deployment to every cluster: %q", r.Message)
		}
		if got := h.getDeploy(worker, d.ID); !got.Editable || got.Version != "1.0" {
			t.Fatalf("a refused strategy changed the deployment: %+v", got)
		}

		// 2.0: the canary, then an approval, then one cluster, then the rest.
		r := upgrade("2.0", strategy(map[string]any{"name": "canary", "clusterLabel": "canary", "approval": true}, map[string]any{"count": 1}, map[string]any{}))
		if r.Status != 200 {
			t.Fatalf("upgrade with a strategy: %d %s", r.Status, r.Message)
		}
		h.decide(acme.token, d.ID, 1)
		if v1, v2, v3 := e1.version(wn), e2.version(wn), e3.version(wn); v1 != "2.0" || v2 != "1.0" || v3 != "1.0" {
			t.Fatalf("after approval: edge-1 %s, edge-2 %s, edge-3 %s; want only the canary on 2.0", v1, v2, v3)
		}
		got := h.rollout(worker, d.ID)
		if ro := got.Rollout; ro == nil || ro.State != "running" || ro.Wave != 1 || len(ro.Waves) != 3 || ro.Waves[0].Name != "canary" ||
			ro.Waves[0].Clusters[0].Name != "edge-1" || ro.Waves[0].Clusters[0].Version != "2.0" || ro.Waves[1].Clusters[0].Version != "1.0" ||
			ro.PreviousVersion != "1.0" || ro.Version != "2.0" {
			t.Fatalf("rollout %+v", got.Rollout)
		}
		if got.Editable {
			t.Fatal("a deployment being rolled out is editable")
		}
		if r := upgrade("3.0", nil); r.Status != 409 || !strings.Contains(r.Message, "rolling out version 2.0") {
			t.Fatalf("a change during the rollout: %d %q", r.Status, r.Message)
		}
		h.expect(409, "DELETE", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, nil)

		// The canary is healthy: the next wave waits for an approval that
		// names it and its clusters, which the same roles decide.
		e1.healthy(wn)
		h.waitRollout(worker, d.ID, "the canary's approval", state("approval"))
		a := h.waveAudit(acme.token, d.ID)
		if a.Wave != 2 || len(a.Clusters) != 1 || a.Clusters[0] != "edge-2" || a.Version != "2.0" || a.DeployType != 2 || !strings.Contains(a.Comment, "edge-2") {
			t.Fatalf("wave approval %+v", a)
		}
		h.expect(403, "PUT", "/v1/admin/deploy", worker, map[string]any{"id": a.ID, "status": 1, "comment": "me"})
		if got := h.getDeploy(worker, d.ID); got.Status != 4 {
			t.Fatalf("status %d while the rollout waits, want deploying (4)", got.Status)
		}
		h.expect(200, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": a.ID, "status": 1, "comment": "canary looks good"})
		h.expect(409, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": a.ID, "status": 1, "comment": "twice"})
		if v2, v3 := e2.version(wn), e3.version(wn); v2 != "2.0" || v3 != "1.0" {
			t.Fatalf("after the wave's approval: edge-2 %s, edge-3 %s", v2, v3)
		}

		// Paused, the rollout holds even when its wave is healthy.
		h.expect(422, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "restart"})
		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "pause"})
		h.expect(409, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "pause"})
		e2.healthy(wn)
		h.waitFor("edge-2's report", func() bool {
			return strings.Contains(h.getDeploy(worker, d.ID).ErrorMessage, "edge-2: 2/2 pods running")
		})
		if got := h.rollout(worker, d.ID); got.Rollout.State != "paused" || e3.version(wn) != "1.0" {
			t.Fatalf("a paused rollout moved: %+v, edge-3 on %s", got.Rollout, e3.version(wn))
		}
		h.expect(403, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), root, map[string]any{"action": "resume"})
		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "resume"})
		h.waitFor("the last wave starts", func() bool { return e3.version(wn) == "2.0" })
		e3.healthy(wn)
		got = h.waitRollout(worker, d.ID, "the rollout succeeds", state("succeeded"))
		h.waitFor("2.0 succeeds", func() bool { return h.getDeploy(worker, d.ID).Status == 5 })
		if !h.getDeploy(worker, d.ID).Editable || got.Rollout.Waves[2].State != "done" {
			t.Fatalf("after the rollout: %+v", got)
		}
		h.expect(409, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "abort"})

		// 3.0 fails in the canary: rolled back there; the others never see it.
		before := map[string]uint64{e2.name: e2.item(wn).Revision, e3.name: e3.item(wn).Revision}
		r = upgrade("3.0", map[string]any{"waves": []map[string]any{{"clusterLabel": "canary"}, {}}, "autoRollback": true})
		if r.Status != 200 {
			t.Fatal(r.Message)
		}
		h.decide(acme.token, d.ID, 1)
		if e1.version(wn) != "3.0" {
			t.Fatal("the canary did not get 3.0")
		}
		e1.report(wn, protocol.StateApplied, &protocol.PodCounts{Desired: 2, Failed: 2})
		got = h.waitRollout(worker, d.ID, "the automatic rollback", state("rolledBack"))
		if !strings.Contains(got.Rollout.Reason, "edge-1: 0/2 pods running, 2 failed") {
			t.Fatalf("rollback reason %q", got.Rollout.Reason)
		}
		if e1.version(wn) != "2.0" || got.Version != "2.0" || got.DeployType != 3 || !got.Editable {
			t.Fatalf("after the rollback: edge-1 on %s, deployment %+v", e1.version(wn), got.deployOut)
		}
		for _, e := range []*edge{e2, e3} {
			if it := e.item(wn); it.Revision != before[e.name] || e.version(wn) != "2.0" {
				t.Fatalf("%s was sent something during the failed rollout: revision %d (was %d), version %s", e.name, it.Revision, before[e.name], e.version(wn))
			}
		}
		var trail []waveAuditOut
		h.expect(200, "GET", "/v1/admin/deploy?pageSize=100&desc=true", acme.token, nil).into(t, &trail)
		if trail[0].DeployType != 3 || trail[0].Status != 1 || trail[0].Version != "2.0" || !strings.HasPrefix(trail[0].Comment, "automatic rollback: ") {
			t.Fatalf("the rollback is not on record: %+v", trail[0])
		}

		// Aborted while a wave waits for approval: the approval is closed,
		// the clusters keep what they run, the deployment is editable.
		r = upgrade("3.0", map[string]any{"waves": []map[string]any{{"clusterLabel": "canary", "approval": true}, {}}})
		if r.Status != 200 {
			t.Fatal(r.Message)
		}
		h.decide(acme.token, d.ID, 1)
		e1.healthy(wn)
		h.waitRollout(worker, d.ID, "approval of the rest", state("approval"))
		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), worker, map[string]any{"action": "abort"})
		if got := h.rollout(worker, d.ID); got.Rollout.State != "aborted" || !got.Editable || got.Version != "2.0" || e1.version(wn) != "3.0" || e2.version(wn) != "2.0" {
			t.Fatalf("after abort: %+v, edge-1 %s, edge-2 %s", got, e1.version(wn), e2.version(wn))
		}
		h.expect(404, "PUT", "/v1/admin/deploy", h.login(adminName, adminPass), map[string]any{"id": 0, "status": 1, "comment": "x"})
		var as []waveAuditOut
		h.expect(200, "GET", "/v1/admin/deploy?pageSize=100", acme.token, nil).into(t, &as)
		for _, a := range as {
			if a.Status == 0 {
				t.Fatalf("a request still waits after the abort: %+v", a)
			}
		}

		// Other businesses see none of it.
		beta := h.newTenant(root, "beta")
		h.expect(404, "POST", fmt.Sprintf("/v1/deploy/id/%d/rollout", d.ID), beta.token, map[string]any{"action": "pause"})
	})
}

type driftOut struct {
	Cluster, Object, Field, Desired, Actual, Manager string
	Time                                             int64
	Corrected                                        bool
}

// TestDriftReports: what agents report of out-of-band changes shows in the
// deployment, newest first, with the cluster and the manager named, once
// per change however often it is reported; the drift policy chosen at
// creation reaches the agents in the spec.
func TestDriftReports(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		h.expect(200, "POST", "/v1/app", acme.token, appBody("web", "1.0"))
		e1 := h.edge("edge-1", "edge")
		wn := fmt.Sprintf("ns%d/web", acme.business.ID)
		h.expect(422, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge", "driftPolicy": "ignore"})
		var d struct {
			deployOut
			DriftPolicy string     `json:"driftPolicy"`
			Drift       []driftOut `json:"drift"`
		}
		h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge", "driftPolicy": "report"}).into(t, &d)
		if d.DriftPolicy != "report" {
			t.Fatalf("driftPolicy %q", d.DriftPolicy)
		}
		h.decide(acme.token, d.ID, 1)
		var ws protocol.WorkloadSpec
		json.Unmarshal(e1.item(wn).Spec, &ws)
		if ws.DriftPolicy != protocol.DriftReport {
			t.Fatalf("the agents' spec has drift policy %q", ws.DriftPolicy)
		}
		it := e1.item(wn)
		base := time.Now().Add(-2 * time.Hour).Unix()
		scaled := protocol.Drift{Object: "Deployment/web", Field: "spec.replicas", Desired: "2", Actual: "5", Manager: "kubectl (scale)", At: base}
		edited := protocol.Drift{Object: "Deployment/web", Field: "spec.template.spec.containers[app].image", Desired: "a:1", Actual: "a:evil", Manager: "kubectl-edit", At: base + 100}
		running := int32(2)
		send := func(ds ...protocol.Drift) {
			e1.agent.send(&protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: []protocol.ItemStatus{{
				ItemKey: protocol.ItemKey{Kind: protocol.ItemWorkload, Name: wn}, Revision: it.Revision, State: protocol.StateApplied,
				Pods: &protocol.PodCounts{Desired: 2, Running: running}, Drift: ds}}}})
		}
		send(scaled)
		send(scaled, edited) // the first again, and a second change
		send()               // a report without drift right after: the changes are kept
		var got []driftOut
		h.waitFor("both changes", func() bool {
			h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, nil).into(t, &d)
			got = d.Drift
			return len(got) == 2
		})
		if got[0].Field != edited.Field || got[0].Manager != "kubectl-edit" || got[0].Cluster != "edge-1" || got[0].Time != edited.At || got[0].Actual != "a:evil" ||
			got[1].Manager != "kubectl (scale)" || got[1].Corrected {
			t.Fatalf("drift %+v", got)
		}
		running = 1
		send(scaled, edited)
		h.waitFor("the status of the repeat", func() bool {
			return strings.Contains(h.getDeploy(acme.token, d.ID).ErrorMessage, "edge-1: 1/2 pods running")
		})
		h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, nil).into(t, &d)
		if len(d.Drift) != 2 {
			t.Fatalf("a repeated report was kept twice: %+v", d.Drift)
		}
		// The policy changes with an approved change, not before.
		h.expect(200, "POST", "/v1/app", acme.token, appBody("web", "1.1"))
		h.expect(422, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, map[string]any{"version": "1.1", "driftPolicy": "sometimes"})
		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, map[string]any{"version": "1.1", "driftPolicy": "correct"})
		h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, nil).into(t, &d)
		if d.DriftPolicy != "report" {
			t.Fatalf("drift policy %q while the change waits", d.DriftPolicy)
		}
		h.decide(acme.token, d.ID, 1)
		h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, nil).into(t, &d)
		ws = protocol.WorkloadSpec{}
		json.Unmarshal(e1.item(wn).Spec, &ws)
		if d.DriftPolicy != "correct" || ws.DriftPolicy != "" || ws.Version != "1.1" {
			t.Fatalf("after the upgrade: policy %q, the agents' spec %q at %s", d.DriftPolicy, ws.DriftPolicy, ws.Version)
		}

		// Another business sees none of it.
		beta := h.newTenant(root, "beta")
		h.expect(404, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), beta.token, nil)
	})
}

// TestRolloutFollowsLabelsAndHoldsItsSpecs: a cluster that loses the
// deployment's label during a rollout loses the workload and gets no
// later wave; a pod security change, which would recompile and rewrite
// the deployment everywhere at once, is refused while it rolls out.
func TestRolloutFollowsLabelsAndHoldsItsSpecs(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		h.expect(200, "POST", "/v1/app", acme.token, appBody("web", "1.0"))
		e1, e2, e3 := h.edge("edge-1", "edge", "canary"), h.edge("edge-2", "edge"), h.edge("edge-3", "edge")
		wn := fmt.Sprintf("ns%d/web", acme.business.ID)
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge",
			"strategy": map[string]any{"waves": []map[string]any{{"clusterLabel": "canary"}, {}}, "soakSeconds": 0}}).into(t, &d)
		h.decide(acme.token, d.ID, 1)
		if e1.item(wn) == nil || e2.item(wn) != nil || e3.item(wn) != nil {
			t.Fatal("the new deployment's first wave is not the canary alone")
		}
		if r := h.expect(409, "PUT", fmt.Sprintf("/v1/business/id/%d", acme.business.ID), root, map[string]any{"podSecurity": "baseline"}); !strings.Contains(r.Message, "rolling out version 1.0") {
			t.Fatalf("pod security change during a rollout: %q", r.Message)
		}

		// edge-3 leaves before its wave; the canary's item goes with its label.
		h.expect(200, "DELETE", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-3"}, "clusterLabel": "edge"})
		e1.healthy(wn)
		h.waitFor("the second wave", func() bool { return e2.item(wn) != nil })
		e2.healthy(wn)
		got := h.waitRollout(acme.token, d.ID, "the rollout succeeds", state("succeeded"))
		if e3.item(wn) != nil {
			t.Fatalf("a later wave reached edge-3, which lost the label: %+v", got.Rollout)
		}
		h.expect(200, "DELETE", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "edge"})
		if e1.item(wn) != nil {
			t.Fatal("edge-1 kept the workload after losing the label")
		}
	})
}

// TestRolloutToEveryCluster: a deployment without a cluster label rolls
// out in waves among every cluster; a cluster that joins during the
// rollout runs the previous version, and the new one once the rollout
// ends, when the deployment is again one item for every cluster.
func TestRolloutToEveryCluster(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		for _, v := range []string{"1.0", "2.0"} {
			h.expect(200, "POST", "/v1/app", acme.token, appBody("web", v))
		}
		e1, e2 := h.edge("edge-1", "canary"), h.edge("edge-2")
		wn := fmt.Sprintf("ns%d/web", acme.business.ID)
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0"}).into(t, &d)
		h.decide(acme.token, d.ID, 1)
		e1.healthy(wn)
		e2.healthy(wn)
		h.waitFor("1.0 succeeds", func() bool { return h.getDeploy(acme.token, d.ID).Status == 5 })

		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme.token, map[string]any{"version": "2.0",
			"strategy": map[string]any{"waves": []map[string]any{{"clusterLabel": "canary", "approval": true}, {}}, "soakSeconds": 0}})
		h.decide(acme.token, d.ID, 1)
		if v1, v2 := e1.version(wn), e2.version(wn); v1 != "2.0" || v2 != "1.0" {
			t.Fatalf("first wave: edge-1 %s, edge-2 %s; want the canary alone on 2.0", v1, v2)
		}
		e3 := h.edge("edge-3")
		if v := e3.version(wn); v != "1.0" {
			t.Fatalf("a cluster that joined during the rollout runs %q, want the previous 1.0", v)
		}
		e1.healthy(wn)
		h.waitRollout(acme.token, d.ID, "the approval of the rest", state("approval"))
		a := h.waveAudit(acme.token, d.ID)
		if len(a.Clusters) != 1 || a.Clusters[0] != "edge-2" {
			t.Fatalf("the rest is %v, want the clusters there were at approval", a.Clusters)
		}
		h.expect(200, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": a.ID, "status": 1, "comment": "go"})
		h.waitFor("2.0 in edge-2", func() bool { return e2.version(wn) == "2.0" })
		e2.healthy(wn)
		h.waitRollout(acme.token, d.ID, "the rollout succeeds", state("succeeded"))
		for _, e := range []*edge{e1, e2, e3} {
			it := e.item(wn)
			if it == nil || e.version(wn) != "2.0" || it.ClusterID != store.AllClusters {
				t.Fatalf("%s after the rollout: %+v, want 2.0 from the item for every cluster", e.name, it)
			}
		}
		var n int64
		h.store.DB().Table("desired_items").Where("name = ? AND cluster_id <> 0", wn).Count(&n)
		if n != 0 {
			t.Fatalf("%d clusters' own items left after the rollout", n)
		}
	})
}
