package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

type deployOut struct {
	ID           uint64 `json:"id"`
	DeployName   string `json:"deployName"`
	AppName      string `json:"appName"`
	Version      string `json:"version"`
	Cluster      string `json:"cluster"`
	DeployType   int    `json:"deployType"`
	Status       int    `json:"status"`
	Editable     bool   `json:"editable"`
	ErrorMessage string `json:"errorMessage"`
	AuditComment string `json:"auditComment"`
}

type auditOut struct {
	ID           uint64 `json:"id"`
	BusinessName string `json:"businessName"`
	DeployID     uint64 `json:"deployId"`
	DeployType   int    `json:"deployType"`
	Status       int    `json:"status"`
	Version      string `json:"version"`
}

// workloads lists the live workload items a cluster would get: image by name.
func (h *hub) workloads(cluster string) map[string]string {
	h.t.Helper()
	cl, err := h.store.ClusterByName(context.Background(), cluster)
	if err != nil {
		h.t.Fatal(err)
	}
	items, _ := h.store.DesiredSince(context.Background(), cl.ID, 0, 1000)
	out := map[string]string{}
	for _, it := range items {
		if it.Kind != store.ItemWorkload || it.Deleted {
			continue
		}
		var ws protocol.WorkloadSpec
		json.Unmarshal(it.Spec, &ws)
		out[it.Name] = ws.Container.Image
	}
	return out
}

func (h *hub) pendingAudit(token string, deployID uint64) auditOut {
	h.t.Helper()
	var as []auditOut
	h.expect(200, "GET", "/v1/admin/deploy?pageSize=100", token, nil).into(h.t, &as)
	for _, a := range as {
		if a.DeployID == deployID && a.Status == 0 {
			return a
		}
	}
	h.t.Fatalf("no pending audit request for deployment %d in %+v", deployID, as)
	return auditOut{}
}

func (h *hub) decide(token string, deployID uint64, status int) deployOut {
	h.t.Helper()
	a := h.pendingAudit(token, deployID)
	var d deployOut
	h.expect(200, "PUT", "/v1/admin/deploy", token, map[string]any{"id": a.ID, "status": status, "comment": fmt.Sprint("decision ", status)}).into(h.t, &d)
	return d
}

func (h *hub) getDeploy(token string, id uint64) deployOut {
	h.t.Helper()
	var d deployOut
	h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", id), token, nil).into(h.t, &d)
	return d
}

func TestDeploymentsWithAudit(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		_, worker := h.subUser(acme.token, "worker", false)
		for _, v := range []string{"1.0", "1.1", "2.0"} {
			h.expect(200, "POST", "/v1/app", acme.token, appBody("web", v))
		}
		if r := h.upload(acme.token, map[string]string{"appName": "charted", "version": "1.0"}, tgz(t, validChart("c", "1.0.0"))); r.Status != 200 {
			t.Fatal(r.Message)
		}
		c1, c2 := h.join("edge-1"), h.join("edge-2")
		h.expect(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "east"})
		ns := fmt.Sprintf("ns%d", acme.business.ID)
		body := func(name, version string) map[string]any {
			return map[string]any{"deployName": name, "appName": "web", "version": version, "cluster": "east", "nodeLabel": "", "comment": "please"}
		}

		// Validation and lookups.
		for field, b := range map[string]map[string]any{
			"deployName": with(body("x", "1.0"), "deployName", "Bad_Name"),
			"appName":    with(body("x", "1.0"), "appName", nil),
			"version":    with(body("x", "1.0"), "version", "one"),
			"cluster":    with(body("x", "1.0"), "cluster", "a b"),
			"nodeLabel":  with(body("x", "1.0"), "nodeLabel", "a/b"),
		} {
			if r := h.expect(422, "POST", "/v1/deploy", worker, b); !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("%s: %q", field, r.Message)
			}
		}
		h.expect(404, "POST", "/v1/deploy", worker, body("x", "9.9"))
		h.expect(403, "POST", "/v1/deploy", root, body("x", "1.0"))

		// A general user's deployment waits; a disapproval changes nothing.
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", worker, body("web", "1.0")).into(t, &d)
		if d.Status != 0 || d.DeployType != 1 || d.Editable {
			t.Fatalf("new deployment %+v", d)
		}
		h.expect(409, "POST", "/v1/deploy", worker, body("web", "1.0"))
		a := h.pendingAudit(acme.token, d.ID)
		if a.BusinessName != "acme" || a.DeployType != 1 || a.Version != "1.0" {
			t.Fatalf("audit request %+v", a)
		}
		h.expect(403, "PUT", "/v1/admin/deploy", worker, map[string]any{"id": a.ID, "status": 1, "comment": "self"})
		h.expect(422, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": a.ID, "status": 3, "comment": "x"})
		if d = h.decide(acme.token, d.ID, 2); d.Status != 2 || d.AuditComment != "decision 2" {
			t.Fatalf("disapproved %+v", d)
		}
		if w := h.workloads("edge-1"); len(w) != 0 {
			t.Fatalf("a disapproved deployment reached a cluster: %v", w)
		}
		h.expect(409, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": a.ID, "status": 1, "comment": "too late"})
		// A deployment that never ran is deleted without audit.
		h.expect(200, "DELETE", "/v1/deploy/web", worker, nil)
		if got := h.getDeploy(worker, d.ID); got.Status != 9 {
			t.Fatalf("deleted never-run deployment %+v", got)
		}

		// Approved: the workload goes to the clusters labelled east only.
		h.expect(200, "POST", "/v1/deploy", worker, body("web2", "1.0")).into(t, &d)
		if d = h.decide(root, d.ID, 1); d.Status != 3 || !d.Editable {
			t.Fatalf("approved %+v", d)
		}
		key := ns + "/web2"
		if w := h.workloads("edge-1"); w[key] != "registry.example.com/team/web:1.0" {
			t.Fatalf("edge-1 workloads %v", w)
		}
		if w := h.workloads("edge-2"); len(w) != 0 {
			t.Fatalf("edge-2 got a workload it is not labelled for: %v", w)
		}
		// Labels move workloads.
		h.expect(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-2"}, "clusterLabel": "east"})
		h.expect(200, "DELETE", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "east"})
		if w1, w2 := h.workloads("edge-1"), h.workloads("edge-2"); len(w1) != 0 || w2[key] == "" {
			t.Fatalf("after relabelling: edge-1 %v edge-2 %v", w1, w2)
		}

		// Upgrade, one change at a time; the app in use cannot be deleted.
		h.expect(422, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "1.0"})
		h.expect(404, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "7.7"})
		h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "1.1", "comment": "faster"})
		h.expect(409, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "2.0"})
		if got := h.getDeploy(worker, d.ID); got.Editable || got.DeployType != 2 || got.Version != "1.0" {
			t.Fatalf("upgrade waiting %+v", got)
		}
		var editable []deployOut
		h.expect(200, "GET", "/v1/deploy?editable=false", worker, nil).into(t, &editable)
		if len(editable) != 2 || editable[0].ID != d.ID || editable[1].Status != 9 {
			t.Fatalf("editable=false (the waiting one, and the deleted one) %+v", editable)
		}
		if d = h.decide(acme.token, d.ID, 1); d.Version != "1.1" || d.DeployType != 2 {
			t.Fatalf("upgraded %+v", d)
		}
		if w := h.workloads("edge-2"); w[key] != "registry.example.com/team/web:1.1" {
			t.Fatalf("upgrade not pushed: %v", w)
		}
		var apps []appOut
		h.expect(200, "GET", "/v1/app?appName=web&appNameMode=strict&version=1.1", acme.token, nil).into(t, &apps)
		h.expect(409, "DELETE", "/v1/app", acme.token, map[string]any{"appId": []uint64{apps[0].ID}})

		// Rollback only to a version that ran.
		h.expect(422, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "2.0", "comment": "x"})
		h.expect(422, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "1.0"})
		h.expect(200, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, map[string]any{"version": "1.0", "comment": "regression"})
		if d = h.decide(acme.token, d.ID, 1); d.Version != "1.0" || d.DeployType != 3 {
			t.Fatalf("rolled back %+v", d)
		}
		var hist []struct{ Version string }
		h.expect(200, "GET", fmt.Sprintf("/v1/deploy/id/%d?field=historyVersion", d.ID), worker, nil).into(t, &hist)
		if len(hist) != 2 || hist[0].Version != "1.0" || hist[1].Version != "1.1" {
			t.Fatalf("history %+v", hist)
		}

		// Status from the agents' reports.
		h.expect(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "east"})
		a1, _, r1 := h.connect("edge-1", c1, 0)
		a2, _, r2 := h.connect("edge-2", c2, 0)
		// report answers for the newest revision of the workload in the
		// agent's cluster, as a real agent does once it has processed what
		// the hub pushed after the resync (under load the resync may predate
		// the latest writes).
		clusterOf := map[*agent]string{a1: "edge-1", a2: "edge-2"}
		report := func(ag *agent, _ *protocol.Desired, state protocol.ItemState, msg string, pods *protocol.PodCounts) {
			cl, err := h.store.ClusterByName(context.Background(), clusterOf[ag])
			if err != nil {
				t.Fatal(err)
			}
			items, _ := h.store.DesiredSince(context.Background(), cl.ID, 0, 1000)
			for _, it := range items {
				if it.Kind == store.ItemWorkload && it.Name == ns+"/web2" && !it.Deleted {
					key := protocol.ItemKey{Kind: protocol.ItemWorkload, Name: it.Name}
					ag.send(&protocol.Message{Kind: protocol.KindStatus, Status: &protocol.Status{Items: []protocol.ItemStatus{{ItemKey: key, Revision: it.Revision, State: state, Message: msg, Pods: pods}}}})
					return
				}
			}
			t.Fatalf("no workload for %s", clusterOf[ag])
		}
		report(a2, r2, protocol.StateApplied, "", nil)
		h.waitFor("deploying", func() bool { return h.getDeploy(worker, d.ID).Status == 4 })
		report(a2, r2, protocol.StateApplied, "", &protocol.PodCounts{Desired: 2, Running: 1})
		report(a1, r1, protocol.StateFailed, "quota exceeded", nil)
		h.waitFor("deploying while edge-2 starts its pods", func() bool {
			return strings.Contains(h.getDeploy(worker, d.ID).ErrorMessage, "edge-2: 1/2 pods running")
		})
		if got := h.getDeploy(worker, d.ID); got.Status != 4 {
			t.Fatalf("status %d with pods still starting", got.Status)
		}
		report(a2, r2, protocol.StateApplied, "", &protocol.PodCounts{Desired: 2, Running: 2})
		h.waitFor("partial success", func() bool { return h.getDeploy(worker, d.ID).Status == 6 })
		got := h.getDeploy(worker, d.ID)
		if !strings.Contains(got.ErrorMessage, "edge-1: failed: quota exceeded") || !strings.Contains(got.ErrorMessage, "edge-2: 2/2 pods running") {
			t.Fatalf("errorMessage %q", got.ErrorMessage)
		}
		report(a1, r1, protocol.StateApplied, "", &protocol.PodCounts{Desired: 2, Running: 0, Failed: 2})
		h.waitFor("pods failing in edge-1", func() bool {
			return strings.Contains(h.getDeploy(worker, d.ID).ErrorMessage, "edge-1: 0/2 pods running, 2 failed")
		})
		if got := h.getDeploy(worker, d.ID); got.Status != 6 {
			t.Fatalf("status %d with one cluster's pods failing", got.Status)
		}
		var running []deployOut
		h.expect(200, "GET", "/v1/deploy?running=true&field=deployName,status", worker, nil).into(t, &running)
		if len(running) != 1 || running[0].Status != 6 {
			t.Fatalf("running %+v", running)
		}
		report(a1, r1, protocol.StateApplied, "", &protocol.PodCounts{Desired: 2, Running: 2})
		h.waitFor("success", func() bool { return h.getDeploy(worker, d.ID).Status == 5 })

		// Delete: after approval the workload is gone from every cluster.
		h.expect(200, "DELETE", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, nil)
		if w := h.workloads("edge-1"); len(w) != 1 {
			t.Fatal("a deletion waiting for audit removed the workload")
		}
		if d = h.decide(acme.token, d.ID, 1); d.Status != 9 || d.DeployType != 4 {
			t.Fatalf("deleted %+v", d)
		}
		if w1, w2 := h.workloads("edge-1"), h.workloads("edge-2"); len(w1)+len(w2) != 0 {
			t.Fatalf("workloads after deletion: %v %v", w1, w2)
		}
		h.expect(404, "DELETE", fmt.Sprintf("/v1/deploy/id/%d", d.ID), worker, nil)

		// Other businesses see none of it.
		beta := h.newTenant(root, "beta")
		h.expect(404, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), beta.token, nil)
		if r := h.expect(200, "GET", "/v1/admin/deploy", beta.token, nil); *r.Total != 0 {
			t.Fatalf("beta's audit list has %d requests", *r.Total)
		}
		if r := h.expect(200, "GET", "/v1/admin/deploy?businessName=acme", root, nil); *r.Total == 0 {
			t.Fatal("businessName filter found nothing")
		}
	})
}

func TestAdminAutoDeploy(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withFeatures(api.Features{EnableAdminAutoDeploy: true}))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	_, worker := h.subUser(acme.token, "worker", false)
	h.expect(200, "POST", "/v1/app", acme.token, appBody("web", "1.0"))
	h.join("edge-1")
	var d deployOut
	h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "comment": ""}).into(t, &d)
	if d.Status != 3 || !d.Editable || d.AuditComment == "" {
		t.Fatalf("administrator's deployment %+v", d)
	}
	if w := h.workloads("edge-1"); len(w) != 1 {
		t.Fatalf("no workload for all clusters: %v", w)
	}
	h.expect(200, "POST", "/v1/deploy", worker, map[string]any{"deployName": "web2", "appName": "web", "version": "1.0"}).into(t, &d)
	if d.Status != 0 {
		t.Fatalf("a general user's deployment skipped the audit: %+v", d)
	}
}
