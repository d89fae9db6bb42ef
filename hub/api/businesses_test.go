package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestBusinessLifecycle(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		owner := h.register("owner", "Owner-pass1", true)
		h.auditUser(root, owner.ID, 1)
		tok := h.login("owner", "Owner-pass1")

		for _, field := range []string{"name", "introduce", "objective", "scale"} {
			body := businessBody("acme")
			delete(body, field)
			r := h.expect(422, "POST", "/v1/business", tok, body)
			if !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("missing %s: %q", field, r.Message)
			}
		}
		long := businessBody(strings.Repeat("n", 65))
		h.expect(422, "POST", "/v1/business", tok, long)

		var b businessOut
		h.expect(200, "POST", "/v1/business", tok, businessBody("acme")).into(t, &b)
		if b.Status != 0 || b.UserID != owner.ID || b.Name != "acme" || b.Introduce == "" || b.Namespace != fmt.Sprintf("ns%d", b.ID) {
			t.Fatalf("created %+v", b)
		}
		h.expect(409, "POST", "/v1/business", tok, businessBody("acme-two"))
		rival := h.register("rival", "Rival-pass1", true)
		h.auditUser(root, rival.ID, 1)
		rtok := h.login("rival", "Rival-pass1")
		h.expect(409, "POST", "/v1/business", rtok, businessBody("acme"))
		var rb businessOut
		h.expect(200, "POST", "/v1/business", rtok, businessBody("rival-co")).into(t, &rb)

		// General users and the system administrator cannot create businesses.
		plain := h.register("plain", "Plain-pass1", false)
		h.auditUser(root, plain.ID, 1)
		h.expect(403, "POST", "/v1/business", h.login("plain", "Plain-pass1"), businessBody("plain-co"))
		h.expect(403, "POST", "/v1/business", root, businessBody("root-co"))

		// List: the system administrator sees all with filters, others their own.
		var all []businessOut
		r := h.expect(200, "GET", "/v1/business?order=desc", root, nil)
		r.into(t, &all)
		if *r.Total != 2 || all[0].ID != rb.ID {
			t.Fatalf("root list %+v", all)
		}
		r = h.expect(200, "GET", "/v1/business?name=cme", root, nil)
		r.into(t, &all)
		if *r.Total != 1 || all[0].ID != b.ID {
			t.Fatalf("name filter: %+v", all)
		}
		r = h.expect(200, "GET", "/v1/business?pageSize=1&page=2", root, nil)
		r.into(t, &all)
		if *r.Total != 2 || len(all) != 1 || all[0].ID != rb.ID {
			t.Fatalf("page 2 of 1: %+v", all)
		}
		r = h.expect(200, "GET", "/v1/business", tok, nil)
		r.into(t, &all)
		if *r.Total != 1 || all[0].ID != b.ID {
			t.Fatalf("owner list %+v", all)
		}
		h.expect(422, "GET", "/v1/business?orderBy=name", root, nil)
		h.expect(422, "GET", "/v1/business?order=sideways", root, nil)

		h.expect(200, "GET", fmt.Sprintf("/v1/business/id/%d", b.ID), tok, nil)
		h.expect(404, "GET", fmt.Sprintf("/v1/business/id/%d", rb.ID), tok, nil)
		h.expect(404, "GET", "/v1/business/id/99999", root, nil)
		h.expect(422, "GET", "/v1/business/id/x", root, nil)

		// Audit: system administrator only, status 1 or 2, comment required.
		path := fmt.Sprintf("/v1/business/id/%d", b.ID)
		h.expect(403, "PUT", path, tok, map[string]any{"status": 1, "comment": "self"})
		h.expect(422, "PUT", path, root, map[string]any{"status": 3, "comment": "x"})
		h.expect(422, "PUT", path, root, map[string]any{"status": 1})
		h.expect(404, "PUT", "/v1/business/id/99999", root, map[string]any{"status": 1, "comment": "x"})

		namespaces := func() []string {
			nss, err := h.store.ListDesiredNamespaces(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, n := range nss {
				out = append(out, n.Name)
			}
			return out
		}
		if ns := namespaces(); len(ns) != 0 {
			t.Fatalf("namespaces before approval: %v", ns)
		}
		h.expect(200, "PUT", path, root, map[string]any{"status": 1, "comment": "approved"}).into(t, &b)
		if b.Status != 1 || b.Comment != "approved" {
			t.Fatalf("audited %+v", b)
		}
		if i := h.info(tok); i.Role != 3 || i.BusinessID != b.ID {
			t.Fatalf("owner after approval %+v", i)
		}
		if ns := namespaces(); fmt.Sprint(ns) != fmt.Sprintf("[ns%d]", b.ID) {
			t.Fatalf("desired namespaces %v", ns)
		}
		h.expect(409, "PUT", path, root, map[string]any{"status": 2, "comment": "changed my mind"})

		// Disapproval: no namespace; the owner may apply again.
		h.expect(200, "PUT", fmt.Sprintf("/v1/business/id/%d", rb.ID), root, map[string]any{"status": 2, "comment": "no"})
		if i := h.info(rtok); i.Role != 1 {
			t.Fatalf("rival after disapproval: role %d", i.Role)
		}
		h.expect(200, "POST", "/v1/business", rtok, businessBody("rival-two"))
		if ns := namespaces(); len(ns) != 1 {
			t.Fatalf("disapproval made a namespace: %v", ns)
		}
	})
}
