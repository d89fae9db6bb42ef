package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// hostPathApp is a container app that mounts the node's root.
func hostPathApp(name, version string) map[string]any {
	return with(appBody(name, version), "volume", []map[string]any{
		{"name": "cache", "mountPath": "/cache", "type": "emptyDir"},
		{"name": "host", "mountPath": "/host", "type": "hostPath", "hostPath": "/"},
	})
}

// namespaceItem returns the desired namespace of business id with its
// labels and revision.
func (h *hub) namespaceItem(id uint64) (map[string]string, uint64) {
	h.t.Helper()
	items, err := h.store.DesiredSince(context.Background(), 0, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, it := range items {
		if it.Kind == store.ItemNamespace && it.Name == store.Namespace(id) && !it.Deleted {
			var spec protocol.NamespaceSpec
			if err := json.Unmarshal(it.Spec, &spec); err != nil {
				h.t.Fatal(err)
			}
			return spec.Labels, it.Revision
		}
	}
	h.t.Fatalf("no desired namespace of business %d", id)
	return nil, 0
}

func wantPodSecurityLabels(t *testing.T, labels map[string]string, level string) {
	t.Helper()
	for _, mode := range []string{"enforce", "warn", "audit"} {
		if labels["pod-security.kubernetes.io/"+mode] != level || labels["pod-security.kubernetes.io/"+mode+"-version"] != "latest" {
			t.Fatalf("namespace labels %v; want %s at %s", labels, mode, level)
		}
	}
}

type levelOut struct {
	ID          uint64 `json:"id"`
	Status      int    `json:"status"`
	PodSecurity string `json:"podSecurity"`
}

func TestBusinessPodSecurityLevel(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		_, worker := h.subUser(acme.token, "worker", false)
		path := fmt.Sprintf("/v1/business/id/%d", acme.business.ID)

		// Restricted by default, shown in the business's answers, and on
		// the namespace as Pod Security Admission labels.
		var b levelOut
		h.expect(200, "GET", path, acme.token, nil).into(t, &b)
		if b.PodSecurity != "restricted" {
			t.Fatalf("new business %+v", b)
		}
		var bs []levelOut
		h.expect(200, "GET", "/v1/business", root, nil).into(t, &bs)
		if len(bs) != 1 || bs[0].PodSecurity != "restricted" {
			t.Fatalf("business list %+v", bs)
		}
		labels, rev := h.namespaceItem(acme.business.ID)
		wantPodSecurityLabels(t, labels, "restricted")

		// A connected agent hears of level changes at once.
		a, _, resync := h.connect("edge-1", h.join("edge-1"), 0)
		if len(resync.Items) != 1 {
			t.Fatalf("resync %v", itemNames(resync.Items))
		}

		// Only the system administrator sets the level; only the three
		// levels are levels; a level change takes no comment.
		h.expect(403, "PUT", path, acme.token, map[string]any{"podSecurity": "privileged"})
		h.expect(403, "PUT", path, worker, map[string]any{"podSecurity": "privileged"})
		for body, field := range map[string]string{
			`{"podSecurity": "root"}`:                     "podSecurity",
			`{"podSecurity": ""}`:                         "podSecurity",
			`{"podSecurity": 1}`:                          "podSecurity",
			`{"podSecurity": "baseline", "comment": "x"}`: "comment",
			`{}`: "status",
		} {
			if r := h.expect(422, "PUT", path, root, body); !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("%s: message %q does not name %s", body, r.Message, field)
			}
		}
		h.expect(404, "PUT", "/v1/business/id/99999", root, map[string]any{"podSecurity": "baseline"})
		if _, r := h.namespaceItem(acme.business.ID); r != rev {
			t.Fatalf("refused changes wrote revision %d", r)
		}

		// hostPath is refused under restricted, naming the field and the
		// level; nothing is stored.
		r := h.expect(422, "POST", "/v1/app", worker, hostPathApp("rooted", "1.0"))
		if want := `volume[1].hostPath: hostPath volumes are forbidden by the business's pod security level "restricted"`; r.Message != want {
			t.Fatalf("refusal %q; want %q", r.Message, want)
		}
		if r := h.expect(200, "GET", "/v1/app", worker, nil); *r.Total != 0 {
			t.Fatalf("a refused app was stored: %d apps", *r.Total)
		}

		// Baseline forbids it too.
		h.expect(200, "PUT", path, root, map[string]any{"podSecurity": "baseline"}).into(t, &b)
		if b.PodSecurity != "baseline" || b.Status != 1 {
			t.Fatalf("after the change to baseline: %+v", b)
		}
		labels, rev2 := h.namespaceItem(acme.business.ID)
		wantPodSecurityLabels(t, labels, "baseline")
		if rev2 <= rev || labels["ote-stack.io/business-id"] != fmt.Sprint(acme.business.ID) {
			t.Fatalf("namespace after the change: %v at revision %d (was %d)", labels, rev2, rev)
		}
		d := a.expect(protocol.KindDesired).Desired
		var spec protocol.NamespaceSpec
		if len(d.Items) != 1 || json.Unmarshal(d.Items[0].Spec, &spec) != nil || d.Items[0].Revision != rev2 {
			t.Fatalf("pushed %v", itemNames(d.Items))
		}
		wantPodSecurityLabels(t, spec.Labels, "baseline")
		r = h.expect(422, "POST", "/v1/app", worker, hostPathApp("rooted", "1.0"))
		if !strings.HasPrefix(r.Message, "volume[1].hostPath:") || !strings.Contains(r.Message, `"baseline"`) {
			t.Fatalf("refusal under baseline %q", r.Message)
		}

		// Privileged accepts it.
		h.expect(200, "PUT", path, root, map[string]any{"podSecurity": "privileged"})
		d = a.expect(protocol.KindDesired).Desired
		if len(d.Items) != 1 || json.Unmarshal(d.Items[0].Spec, &spec) != nil {
			t.Fatalf("pushed %v", itemNames(d.Items))
		}
		wantPodSecurityLabels(t, spec.Labels, "privileged")
		h.expect(200, "POST", "/v1/app", worker, hostPathApp("rooted", "1.0"))
		h.expect(200, "POST", "/v1/app", worker, appBody("plain", "1.0"))
		h.expect(200, "POST", "/v1/app", worker, hostPathApp("plain", "1.1"))
		// The same level again writes nothing; the approval stays final.
		h.expect(200, "PUT", path, root, map[string]any{"podSecurity": "privileged"})
		h.expect(409, "PUT", path, root, map[string]any{"status": 1, "comment": "again"})

		// A deployment asked for under privileged whose approval comes
		// after the level was lowered is refused at the approval.
		var pending deployOut
		h.expect(200, "POST", "/v1/deploy", worker, map[string]any{"deployName": "rooted", "appName": "rooted", "version": "1.0"}).into(t, &pending)
		var running deployOut
		h.expect(200, "POST", "/v1/deploy", worker, map[string]any{"deployName": "plain", "appName": "plain", "version": "1.0"}).into(t, &running)
		h.decide(acme.token, running.ID, 1)
		// Under privileged plain runs 1.1 (hostPath), then 1.2.
		h.expect(200, "POST", "/v1/app", worker, appBody("plain", "1.2"))
		for _, v := range []string{"1.1", "1.2"} {
			h.expect(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", running.ID), worker, map[string]any{"version": v})
			h.decide(acme.token, running.ID, 1)
			if v != "1.1" {
				continue
			}
			// While plain runs hostPath, the level cannot be lowered
			// under it: 409 naming the deployment, nothing written.
			_, before := h.namespaceItem(acme.business.ID)
			r := h.expect(409, "PUT", path, root, map[string]any{"podSecurity": "restricted"})
			if !strings.Contains(r.Message, "plain (plain 1.1: volume[1].hostPath:") {
				t.Fatalf("lowering the level under a hostPath deployment: %q", r.Message)
			}
			if _, after := h.namespaceItem(acme.business.ID); after != before {
				t.Fatalf("a refused level change wrote revision %d (was %d)", after, before)
			}
			h.expect(200, "GET", path, root, nil).into(t, &b)
			if b.PodSecurity != "privileged" {
				t.Fatalf("a refused level change left %q", b.PodSecurity)
			}
		}

		h.expect(200, "PUT", path, root, map[string]any{"podSecurity": "restricted"})
		audit := h.pendingAudit(acme.token, pending.ID)
		r = h.expect(422, "PUT", "/v1/admin/deploy", acme.token, map[string]any{"id": audit.ID, "status": 1, "comment": "ok"})
		if !strings.HasPrefix(r.Message, "volume[1].hostPath:") || !strings.Contains(r.Message, `"restricted"`) {
			t.Fatalf("approval under restricted %q", r.Message)
		}
		h.pendingAudit(acme.token, pending.ID) // still waiting: nothing was written

		// Creating, upgrading to, and rolling back to a hostPath app are
		// refused under restricted, and change nothing.
		r = h.expect(422, "POST", "/v1/deploy", worker, map[string]any{"deployName": "again", "appName": "rooted", "version": "1.0"})
		if !strings.HasPrefix(r.Message, "volume[1].hostPath:") {
			t.Fatalf("create under restricted %q", r.Message)
		}
		r = h.expect(422, "POST", fmt.Sprintf("/v1/deploy/id/%d", running.ID), worker, map[string]any{"version": "1.1"})
		if !strings.HasPrefix(r.Message, "volume[1].hostPath:") {
			t.Fatalf("upgrade under restricted %q", r.Message)
		}
		r = h.expect(422, "PUT", fmt.Sprintf("/v1/deploy/id/%d", running.ID), worker, map[string]any{"version": "1.1", "comment": "back"})
		if !strings.HasPrefix(r.Message, "volume[1].hostPath:") {
			t.Fatalf("rollback under restricted %q", r.Message)
		}
		if got := h.getDeploy(worker, running.ID); !got.Editable || got.Version != "1.2" {
			t.Fatalf("refused changes changed the deployment: %+v", got)
		}
		var deploys []deployOut
		h.expect(200, "GET", "/v1/deploy?pageSize=0", worker, nil).into(t, &deploys)
		if len(deploys) != 2 {
			t.Fatalf("deployments after the refusals: %+v", deploys)
		}

		// The workload compiled under a level carries it to the agent.
		level := func() string {
			items, _ := h.store.DesiredSince(context.Background(), 0, 0, 1000)
			for _, it := range items {
				var ws protocol.WorkloadSpec
				if it.Kind == store.ItemWorkload && !it.Deleted && json.Unmarshal(it.Spec, &ws) == nil && ws.Name == "plain" {
					return ws.PodSecurity
				}
			}
			return ""
		}
		// The level change recompiled the live deployment: its workload
		// carries the new level (the agent sets the restricted
		// securityContext) at a new revision.
		if got := level(); got != "restricted" {
			t.Fatalf("after the change to restricted, the workload of plain carries %q", got)
		}
		// A rollback to a version that the level allows goes ahead.
		h.expect(200, "PUT", fmt.Sprintf("/v1/deploy/id/%d", running.ID), worker, map[string]any{"version": "1.0", "comment": "back"})
		h.decide(acme.token, running.ID, 1)
		if got := level(); got != "restricted" {
			t.Fatalf("rolled back under restricted, the workload carries %q", got)
		}
	})
}

// A level given with the approval is the namespace's first.
func TestBusinessApprovedWithLevel(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		u := h.register("owner", "Owner-pass1", true)
		h.auditUser(root, u.ID, 1)
		tok := h.login("owner", "Owner-pass1")
		var b levelOut
		h.expect(200, "POST", "/v1/business", tok, businessBody("acme")).into(t, &b)
		path := fmt.Sprintf("/v1/business/id/%d", b.ID)
		h.expect(422, "PUT", path, root, map[string]any{"status": 1, "comment": "ok", "podSecurity": "lax"})
		h.expect(200, "PUT", path, root, map[string]any{"status": 1, "comment": "ok", "podSecurity": "baseline"}).into(t, &b)
		if b.PodSecurity != "baseline" || b.Status != 1 {
			t.Fatalf("approved %+v", b)
		}
		labels, _ := h.namespaceItem(b.ID)
		wantPodSecurityLabels(t, labels, "baseline")
	})
}
