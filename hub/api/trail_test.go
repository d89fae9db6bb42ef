package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

type trailEntry struct {
	ID         uint64         `json:"id"`
	Time       int64          `json:"time"`
	UserID     uint64         `json:"userId"`
	User       string         `json:"user"`
	Role       int            `json:"role"`
	BusinessID uint64         `json:"businessId"`
	Action     string         `json:"action"`
	Target     string         `json:"target"`
	Detail     map[string]any `json:"detail"`
	Status     int            `json:"status"`
	Result     string         `json:"result"`
	Address    string         `json:"address"`
}

func (h *hub) trail(token string, query url.Values) ([]trailEntry, int64, string) {
	h.t.Helper()
	r := h.expect(200, "GET", "/v1/admin/audit?"+query.Encode(), token, nil)
	var out []trailEntry
	r.into(h.t, &out)
	if r.Total == nil {
		h.t.Fatalf("no total in %s", r.Raw)
	}
	return out, *r.Total, r.Raw
}

func findEntry(entries []trailEntry, action, user string) *trailEntry {
	for i := range entries {
		if entries[i].Action == action && entries[i].User == user {
			return &entries[i]
		}
	}
	return nil
}

// TestAuditTrail performs administrative writes as several callers and reads
// them back as the system administrator and as a business administrator.
func TestAuditTrail(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		start := time.Now().Add(-time.Second).Unix()
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		beta := h.newTenant(root, "beta")
		member, _ := h.subUser(acme.token, "member", false)

		newPass := "Reset-pass-9x"
		repoPass := "Repo-secret-77"
		regPass := "Registry-pw-55"
		h.secrets = append(h.secrets, newPass, repoPass, regPass)
		h.expect(200, "PUT", fmt.Sprintf("/v1/admin/user/%d/password", member.ID), acme.token, map[string]any{"password": newPass})
		memberTok := h.login("member", newPass)
		h.expect(200, "POST", "/v1/repository/third", acme.token, map[string]any{
			"repositoryId": "hub1", "address": "registry.example.com", "user": "puller", "password": repoPass})
		h.expect(200, "POST", "/v1/repository/user", beta.token, map[string]any{"user": "beta-reg", "password": regPass})
		h.expect(200, "PUT", fmt.Sprintf("/v1/business/id/%d", acme.business.ID), root, map[string]any{"podSecurity": "baseline"})
		// A system administrator's change to a business's user is in
		// that business's trail.
		h.expect(200, "PUT", fmt.Sprintf("/v1/admin/user/%d", member.ID), root, map[string]any{"status": 1})
		// Deployments are recorded, with what they deploy where.
		h.expect(200, "POST", "/v1/app", acme.token, with(appBody("web", "1.0"), "volume", nil))
		h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "east", "nodeLabel": "", "comment": "go"})
		// A caller outside the route's audience is refused before the
		// trail (nobody outside it can grow the trail); a refusal by the
		// handler is recorded with its answer.
		h.expect(403, "POST", "/v1/cluster/label", memberTok, map[string]any{"clusterName": []string{"edge-1"}, "clusterLabel": "gpu"})
		h.expect(422, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{}, "clusterLabel": "gpu"})

		all, total, raw := h.trail(root, url.Values{"pageSize": {"100"}})
		if int(total) != len(all) || total < 9 {
			t.Fatalf("total %d, %d entries: %s", total, len(all), raw)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Fatalf("entries not newest first: %d after %d", all[i].ID, all[i-1].ID)
			}
		}
		for _, s := range h.secrets {
			if strings.Contains(raw, s) {
				t.Fatalf("a password appears in the audit trail: %s", raw)
			}
		}
		if strings.Contains(raw, `"password"`) {
			t.Fatalf("a password field appears in the audit trail: %s", raw)
		}

		var ua *trailEntry
		for i, e := range all {
			if e.Action == "user.audit" && e.Target == fmt.Sprintf("/v1/admin/user/%d", acme.admin.ID) {
				ua = &all[i]
			}
		}
		if ua == nil || ua.User != adminName || ua.Role != 4 || ua.Status != 200 || ua.Result != "success" || ua.Address != "127.0.0.1" || ua.Detail["status"] != float64(1) ||
			ua.Time < start || ua.Time > time.Now().Unix()+1 {
			t.Fatalf("user approval recorded as %+v", ua)
		}
		var ba *trailEntry
		for i, e := range all {
			if e.Action == "business.audit" && e.BusinessID == beta.business.ID {
				ba = &all[i]
			}
		}
		if ba == nil || ba.User != adminName || ba.Detail["comment"] != "welcome" || ba.Detail["status"] != float64(1) {
			t.Fatalf("business approval recorded as %+v", ba)
		}
		reset := findEntry(all, "user.password.reset", "acme-admin")
		if reset == nil || reset.Role != 3 || reset.BusinessID != acme.business.ID || len(reset.Detail) != 0 {
			t.Fatalf("password reset recorded as %+v", reset)
		}
		repo := findEntry(all, "repository.create", "acme-admin")
		if repo == nil || repo.Detail["repositoryId"] != "hub1" || repo.Detail["address"] != "registry.example.com" {
			t.Fatalf("repository creation recorded as %+v", repo)
		}
		// The later 422 is there, the earlier 403 of a general user is not.
		if bad := findEntry(all, "cluster.label.add", adminName); bad == nil || bad.Status != 422 || !strings.Contains(bad.Result, "clusterName") {
			t.Fatalf("invalid label recorded as %+v", bad)
		}
		if denied := findEntry(all, "cluster.label.add", "member"); denied != nil {
			t.Fatalf("a general user's refused label is in the trail: %+v", denied)
		}

		// A business administrator reads its own business's entries only,
		// including what the system administrator did to it.
		own, ownTotal, _ := h.trail(acme.token, url.Values{"pageSize": {"100"}})
		if ownTotal == 0 || int(ownTotal) != len(own) {
			t.Fatalf("acme's trail: total %d, %d entries", ownTotal, len(own))
		}
		for _, e := range own {
			if e.BusinessID != acme.business.ID {
				t.Fatalf("acme's administrator sees an entry of business %d: %+v", e.BusinessID, e)
			}
		}
		if e := findEntry(own, "business.audit", adminName); e == nil || e.Target != fmt.Sprintf("/v1/business/id/%d", acme.business.ID) {
			t.Fatalf("acme does not see its business's approval: %+v", own)
		}
		var level *trailEntry
		for i, e := range own {
			if e.Action == "business.audit" && e.Detail["podSecurity"] == "baseline" {
				level = &own[i]
			}
		}
		if level == nil || level.User != adminName || level.Status != 200 {
			t.Fatalf("acme does not see its level change: %+v", own)
		}
		var rootOnMember *trailEntry
		for i, e := range own {
			if e.Action == "user.audit" && e.Target == fmt.Sprintf("/v1/admin/user/%d", member.ID) {
				rootOnMember = &own[i]
			}
		}
		if rootOnMember == nil || rootOnMember.User != adminName {
			t.Fatalf("acme does not see the system administrator's audit of its user: %+v", own)
		}
		if dep := findEntry(own, "deploy.create", "acme-admin"); dep == nil || dep.Detail["appName"] != "web" || dep.Detail["version"] != "1.0" || dep.Detail["cluster"] != "east" {
			t.Fatalf("deployment recorded as %+v", dep)
		}
		if findEntry(own, "registry.user.create", "beta-admin") != nil {
			t.Fatal("acme sees beta's registry account")
		}
		h.expect(403, "GET", "/v1/admin/audit", memberTok, nil)
		h.expect(401, "GET", "/v1/admin/audit", "", nil)

		// Filters and paging.
		byUser, n, _ := h.trail(root, url.Values{"user": {"acme-admin"}, "pageSize": {"100"}})
		if n == 0 {
			t.Fatal("no entries for acme-admin")
		}
		for _, e := range byUser {
			if e.User != "acme-admin" {
				t.Fatalf("user filter let through %+v", e)
			}
		}
		users, n, _ := h.trail(root, url.Values{"action": {"user."}, "pageSize": {"100"}})
		if n < 4 { // two approvals, a sub-user, a reset
			t.Fatalf("action prefix user.: %d entries", n)
		}
		for _, e := range users {
			if !strings.HasPrefix(e.Action, "user.") {
				t.Fatalf("action filter let through %+v", e)
			}
		}
		if _, n, _ := h.trail(root, url.Values{"action": {"user"}}); n != 0 {
			t.Fatalf("action user (no such action) matched %d entries", n)
		}
		if _, n, _ := h.trail(root, url.Values{"to": {fmt.Sprint(start - 10)}}); n != 0 {
			t.Fatalf("entries before the test: %d", n)
		}
		if _, n, _ := h.trail(root, url.Values{"from": {fmt.Sprint(start)}}); n != total {
			t.Fatalf("entries since the test: %d, want %d", n, total)
		}
		page2, n, _ := h.trail(root, url.Values{"page": {"2"}, "pageSize": {"2"}, "order": {"asc"}})
		if n != total || len(page2) != 2 || page2[0].ID != all[len(all)-3].ID {
			t.Fatalf("page 2 of 2, ascending: %+v", page2)
		}
		for _, q := range []string{"from=yesterday", "to=-1", "from=100&to=50", "page=0", "pageSize=5000", "order=up", "user=" + strings.Repeat("x", 65)} {
			if r := h.do("GET", "/v1/admin/audit?"+q, root, nil); r.Status != 422 {
				t.Errorf("%s: status %d, want 422: %s", q, r.Status, r.Raw)
			}
		}
	})
}
