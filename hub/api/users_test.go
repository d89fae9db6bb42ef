package api_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestRegisterValidation(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		good := newUserBody("carol", "Carol-pass1", false)
		cases := []struct {
			field string
			value any
		}{
			{"user", nil}, {"user", ""}, {"user", "a"}, {"user", "bad name"}, {"user", strings.Repeat("x", 33)},
			{"password", nil}, {"password", "Short1"}, {"password", "nouppercase1"}, {"password", "NOLOWERCASE1"},
			{"password", "NoDigitsHere"}, {"password", "Way-too-long-password-1"},
			{"phone", nil}, {"phone", "abc"}, {"phone", "12"},
			{"isAdmin", nil},
			{"realName", nil}, {"realName", "   "}, {"realName", strings.Repeat("r", 65)},
		}
		for _, c := range cases {
			body := map[string]any{}
			for k, v := range good {
				body[k] = v
			}
			if c.value == nil {
				delete(body, c.field)
			} else {
				body[c.field] = c.value
			}
			r := h.expect(422, "POST", "/v1/user", "", body)
			if !strings.HasPrefix(r.Message, c.field+":") {
				t.Errorf("%s=%v: message %q does not name the field", c.field, c.value, r.Message)
			}
		}
		// Nothing was created by the refused requests.
		root := h.login(adminName, adminPass)
		if r := h.expect(200, "GET", "/v1/admin/user", root, nil); *r.Total != 1 {
			t.Fatalf("refused registrations created users: total %d", *r.Total)
		}

		// isAdmin: false is a valid value of a required field.
		u := h.register("carol", "Carol-pass1", false)
		if u.Status != 0 || u.IsAdmin || u.User != "carol" || u.Phone != "+86 138-0000-0000" || u.CreateTime == 0 {
			t.Fatalf("registered %+v", u)
		}
		h.expect(409, "POST", "/v1/user", "", newUserBody("carol", "Other-pass1", true))
	})
}

func TestUserAuditLifecycle(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		u := h.register("dave", "Dave-pass1", true)

		// Pending users may log in and see role 0.
		tok := h.login("dave", "Dave-pass1")
		if i := h.info(tok); i.Role != 0 {
			t.Fatalf("pending role %d", i.Role)
		}
		h.expect(403, "POST", "/v1/business", tok, businessBody("early"))

		for _, bad := range []any{nil, -1, 4, "1"} {
			body := map[string]any{"status": bad}
			if bad == nil {
				body = map[string]any{}
			}
			r := h.expect(422, "PUT", fmt.Sprintf("/v1/admin/user/%d", u.ID), root, body)
			if !strings.Contains(r.Message, "status") {
				t.Errorf("status %v: %q", bad, r.Message)
			}
		}
		h.expect(404, "PUT", "/v1/admin/user/99999", root, map[string]any{"status": 1})
		h.expect(422, "PUT", "/v1/admin/user/abc", root, map[string]any{"status": 1})

		h.auditUser(root, u.ID, 1)
		if i := h.info(tok); i.Role != 1 {
			t.Fatalf("approved admin without business: role %d", i.Role)
		}

		// Not approved and forbidden users cannot log in, and their tokens stop.
		h.auditUser(root, u.ID, 2)
		h.expect(403, "POST", "/v1/authorization", "", map[string]any{"user": "dave", "password": "Dave-pass1"})
		h.expect(403, "GET", "/v1/authorization", tok, nil)
		h.auditUser(root, u.ID, 3)
		r := h.expect(403, "POST", "/v1/authorization", "", map[string]any{"user": "dave", "password": "Dave-pass1"})
		if !strings.Contains(r.Message, "forbidden") {
			t.Errorf("forbidden login message %q", r.Message)
		}
		// A wrong password of a forbidden user is still just a wrong password.
		h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": "dave", "password": "Wrong-pass1"})
		h.auditUser(root, u.ID, 1)
		h.info(tok)
	})
}

func TestChangePassword(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		h.register("erin", "Erin-pass1", false)
		h.secrets = append(h.secrets, "Erin-pass2")
		tok := h.login("erin", "Erin-pass1")

		h.expect(422, "PUT", "/v1/user", tok, map[string]any{"password": "Erin-pass2"})
		h.expect(422, "PUT", "/v1/user", tok, map[string]any{"oldPassword": "Erin-pass1"})
		h.expect(422, "PUT", "/v1/user", tok, map[string]any{"oldPassword": "Erin-pass1", "password": "weak"})
		r := h.expect(422, "PUT", "/v1/user", tok, map[string]any{"oldPassword": "Wrong-pass1", "password": "Erin-pass2"})
		if !strings.HasPrefix(r.Message, "oldPassword:") {
			t.Errorf("wrong old password message %q", r.Message)
		}
		// Refused changes changed nothing.
		h.info(tok)
		h.login("erin", "Erin-pass1")

		var fresh struct{ Token string }
		h.expect(200, "PUT", "/v1/user", tok, map[string]any{"oldPassword": "Erin-pass1", "password": "Erin-pass2"}).into(t, &fresh)
		h.expect(401, "GET", "/v1/authorization", tok, nil)
		h.info(fresh.Token)
		h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": "erin", "password": "Erin-pass1"})
		h.login("erin", "Erin-pass2")
	})
}

func TestAdminUserEndpoints(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		if i := h.info(acme.token); i.Role != 3 || i.BusinessID != acme.business.ID {
			t.Fatalf("tenant admin info %+v", i)
		}

		// Sub-users join the business and are active at once.
		worker, wtok := h.subUser(acme.token, "worker", false)
		if worker.Status != 1 || worker.BusinessID != acme.business.ID || worker.IsAdmin {
			t.Fatalf("sub-user %+v", worker)
		}
		if i := h.info(wtok); i.Role != 2 {
			t.Fatalf("general user role %d", i.Role)
		}
		deputy, dtok := h.subUser(acme.token, "deputy", true)
		if i := h.info(dtok); i.Role != 3 {
			t.Fatalf("sub-admin role %d", i.Role)
		}
		h.expect(409, "POST", "/v1/admin/user", acme.token, newUserBody("worker", "Other-pass1", false))
		h.expect(422, "POST", "/v1/admin/user", acme.token, map[string]any{"user": "x1", "password": "Abcdefg1", "phone": "12345", "realName": "X"})

		// A system administrator's sub-user belongs to no business.
		loner, ltok := h.subUser(root, "loner", true)
		if loner.BusinessID != 0 || h.info(ltok).Role != 1 {
			t.Fatalf("sysadmin's sub-user %+v", loner)
		}

		// List: paging, ordering, scope.
		var users []userOut
		r := h.expect(200, "GET", "/v1/admin/user?orderBy=user_name&order=desc&page=1&pageSize=2", acme.token, nil)
		r.into(t, &users)
		if *r.Total != 3 || len(users) != 2 || users[0].User != "worker" || users[1].User != "deputy" {
			t.Fatalf("business admin list: total %d %+v", *r.Total, users)
		}
		r = h.expect(200, "GET", "/v1/admin/user?orderBy=user_name&order=desc&page=2&pageSize=2", acme.token, nil)
		r.into(t, &users)
		if len(users) != 1 || users[0].User != "acme-admin" {
			t.Fatalf("page 2: %+v", users)
		}
		r = h.expect(200, "GET", "/v1/admin/user", root, nil)
		if *r.Total != 5 {
			t.Fatalf("sysadmin sees %d users, want 5", *r.Total)
		}
		for _, q := range []string{"orderBy=phone", "order=up", "page=0", "page=x", "pageSize=0", "pageSize=1001", "pageSize=-1"} {
			r := h.expect(422, "GET", "/v1/admin/user?"+q, root, nil)
			field := strings.SplitN(q, "=", 2)[0]
			if !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("%s: message %q", q, r.Message)
			}
		}

		// Reset password: the user's tokens die, the new password works.
		h.secrets = append(h.secrets, "Reset-pass1")
		h.expect(422, "PUT", fmt.Sprintf("/v1/admin/user/%d/password", worker.ID), acme.token, map[string]any{"password": "weak"})
		h.expect(200, "PUT", fmt.Sprintf("/v1/admin/user/%d/password", worker.ID), acme.token, map[string]any{"password": "Reset-pass1"})
		h.expect(401, "GET", "/v1/authorization", wtok, nil)
		h.login("worker", "Reset-pass1")

		// Delete: not oneself; the user is gone and so are its tokens.
		h.expect(409, "DELETE", fmt.Sprintf("/v1/admin/user/%d", acme.admin.ID), acme.token, nil)
		h.expect(200, "DELETE", fmt.Sprintf("/v1/admin/user/%d", deputy.ID), acme.token, nil)
		h.expect(401, "GET", "/v1/authorization", dtok, nil)
		h.expect(404, "DELETE", fmt.Sprintf("/v1/admin/user/%d", deputy.ID), acme.token, nil)
		h.expect(422, "DELETE", "/v1/admin/user/0", acme.token, nil)
	})
}

func TestCrossBusinessIsolation(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		a := h.newTenant(root, "alpha")
		b := h.newTenant(root, "beta")
		bUser, bTok := h.subUser(b.token, "beta-user", false)

		var users []userOut
		h.expect(200, "GET", "/v1/admin/user?pageSize=100", a.token, nil).into(t, &users)
		for _, u := range users {
			if u.BusinessID != a.business.ID {
				t.Fatalf("alpha's admin sees %+v", u)
			}
		}
		for _, id := range []uint64{bUser.ID, b.admin.ID, 1 /* the system administrator */} {
			h.expect(404, "DELETE", fmt.Sprintf("/v1/admin/user/%d", id), a.token, nil)
			h.expect(404, "PUT", fmt.Sprintf("/v1/admin/user/%d/password", id), a.token, map[string]any{"password": "Hacked-pass1"})
			h.expect(403, "PUT", fmt.Sprintf("/v1/admin/user/%d", id), a.token, map[string]any{"status": 3})
		}
		h.expect(404, "GET", fmt.Sprintf("/v1/business/id/%d", b.business.ID), a.token, nil)
		h.expect(404, "GET", fmt.Sprintf("/v1/business/id/%d", a.business.ID), bTok, nil)

		// Nothing changed: beta's user still logs in with its password, and its token works.
		h.info(bTok)
		h.login("beta-user", "Pw-beta-user1")
		h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": "beta-user", "password": "Hacked-pass1"})
	})
}

func TestLastSystemAdministrator(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		i := h.info(root)
		r := h.expect(409, "PUT", fmt.Sprintf("/v1/admin/user/%d", i.UserID), root, map[string]any{"status": 3})
		if !strings.Contains(r.Message, "last system administrator") {
			t.Errorf("message %q", r.Message)
		}
		h.expect(409, "DELETE", fmt.Sprintf("/v1/admin/user/%d", i.UserID), root, nil)
		if h.info(root).Role != 4 {
			t.Fatal("refused demotion changed the role")
		}
	})
}
