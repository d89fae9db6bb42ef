package api_test

import (
	"fmt"
	"testing"

	"github.com/ote-stack/ote/hub/store/storetest"
)

// TestRoleMatrix sends every authenticated route as each of the five roles
// and checks who is let through. "Let through" means the answer is not 401 or
// 403; the handler may still refuse the input (404, 409, 422).
func TestRoleMatrix(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { roleMatrix(t, startHub(t, storetest.Open(t, d))) })
	}
}

func roleMatrix(t *testing.T, h *hub) {
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	h.register("pending", "Pending-pass1", true)
	approved := h.register("approved", "Approved-pass1", true)
	h.auditUser(root, approved.ID, 1)
	_, memberTok := h.subUser(acme.token, "member", false)
	victim, _ := h.subUser(acme.token, "victim", false)

	tokens := map[int]string{
		0: h.login("pending", "Pending-pass1"),
		1: h.login("approved", "Approved-pass1"),
		2: memberTok,
		3: acme.token,
		4: root,
	}
	for role, tok := range tokens {
		if got := h.info(tok).Role; got != role {
			t.Fatalf("fixture for role %d has role %d", role, got)
		}
	}

	type route struct {
		method, path string
		body         any
		allowed      []int
	}
	all := []int{0, 1, 2, 3, 4}
	routes := []route{
		{"GET", "/v1/authorization", nil, all},
		{"PUT", "/v1/user", map[string]any{"oldPassword": "Wrong-pass1", "password": "Newpass-word1"}, all},
		{"GET", "/v1/admin/user", nil, []int{3, 4}},
		{"POST", "/v1/admin/user", map[string]any{}, []int{3, 4}},
		{"DELETE", fmt.Sprintf("/v1/admin/user/%d", 999999), nil, []int{3, 4}},
		{"PUT", fmt.Sprintf("/v1/admin/user/%d/password", victim.ID), map[string]any{"password": "weak"}, []int{3, 4}},
		{"PUT", fmt.Sprintf("/v1/admin/user/%d", victim.ID), map[string]any{"status": 9}, []int{4}},
		// An approved administrator may create a business; one that has a
		// business already (role 3) gets past the role check and is refused
		// with 409 (see TestBusinessLifecycle).
		{"POST", "/v1/business", map[string]any{}, []int{1, 3}},
		{"GET", "/v1/business", nil, all},
		{"GET", fmt.Sprintf("/v1/business/id/%d", acme.business.ID), nil, all},
		{"PUT", fmt.Sprintf("/v1/business/id/%d", acme.business.ID), map[string]any{"status": 9}, []int{4}},
		{"GET", "/v1/cluster", nil, []int{1, 2, 3, 4}},
		{"POST", "/v1/cluster/label", map[string]any{}, []int{4}},
		{"DELETE", "/v1/cluster/label", map[string]any{}, []int{4}},
		{"GET", "/v1/cluster/label", nil, []int{1, 2, 3, 4}},
		{"GET", "/v1/cluster/label/edge-1", nil, []int{1, 2, 3, 4}},
		{"GET", "/v1/node", nil, []int{1, 2, 3, 4}},
		{"POST", "/v1/node/label", map[string]any{}, []int{4}},
		{"DELETE", "/v1/node/label", map[string]any{}, []int{4}},
		{"GET", "/v1/node/label", nil, []int{1, 2, 3, 4}},
		// Apps belong to a business: members write them, and the system
		// administrator, who reads all, gets past the role check and is
		// refused by the handler (403 too, so it counts as refused).
		{"POST", "/v1/app", map[string]any{}, []int{2, 3}},
		{"POST", "/v1/app/chart", map[string]any{}, []int{2, 3}},
		{"DELETE", "/v1/app", map[string]any{}, []int{2, 3}},
		{"GET", "/v1/app", nil, []int{2, 3, 4}},
		{"GET", "/v1/app/id/999999", nil, []int{2, 3, 4}},
		{"POST", "/v1/deploy", map[string]any{}, []int{2, 3}},
		{"GET", "/v1/deploy", nil, []int{2, 3, 4}},
		{"GET", "/v1/deploy/id/999999", nil, []int{2, 3, 4}},
		{"POST", "/v1/deploy/id/999999", map[string]any{}, []int{2, 3, 4}},
		{"PUT", "/v1/deploy/id/999999", map[string]any{}, []int{2, 3, 4}},
		{"DELETE", "/v1/deploy/id/999999", nil, []int{2, 3, 4}},
		{"DELETE", "/v1/deploy/nope", nil, []int{2, 3, 4}},
		{"PUT", "/v1/admin/deploy", map[string]any{}, []int{3, 4}},
		{"POST", "/v1/admin/deploy", map[string]any{}, []int{3, 4}},
		{"GET", "/v1/admin/deploy", nil, []int{3, 4}},
		{"POST", "/v1/repository/third", map[string]any{}, []int{2, 3}},
		{"DELETE", "/v1/repository/third", map[string]any{}, []int{2, 3}},
		{"GET", "/v1/repository/third", nil, []int{2, 3}},
		{"GET", "/v1/repository/third/x", nil, []int{2, 3}},
	}
	for _, rt := range routes {
		allowed := map[int]bool{}
		for _, r := range rt.allowed {
			allowed[r] = true
		}
		h.expect(401, rt.method, rt.path, "", rt.body)
		for role := 0; role <= 4; role++ {
			r := h.do(rt.method, rt.path, tokens[role], rt.body)
			let := r.Status != 401 && r.Status != 403
			if let != allowed[role] {
				t.Errorf("%s %s as role %d: status %d (%s); allowed=%v", rt.method, rt.path, role, r.Status, r.Message, allowed[role])
			}
		}
	}
}
