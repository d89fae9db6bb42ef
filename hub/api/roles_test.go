package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ote-stack/ote/hub/store/storetest"
)

// The principals of the role matrix: anonymous, then one of each role.
const (
	anon = iota
	pending
	approved // approved, no business
	member   // general user of a business
	badmin   // business administrator
	sysadmin
	nPrincipals
)

var principalNames = [nPrincipals]string{"anonymous", "pending", "approved", "member", "business-admin", "sysadmin"}

// who is a set of principals.
type who []int

var (
	everyone = who{anon, pending, approved, member, badmin, sysadmin}
	signedIn = who{pending, approved, member, badmin, sysadmin}
	verified = who{approved, member, badmin, sysadmin}
	members  = who{member, badmin, sysadmin}
	tenants  = who{member, badmin} // business members; the system administrator is refused by the handler
	admins   = who{badmin, sysadmin}
	root     = who{sysadmin}
	nobody   = who{} // agent routes: a cluster credential or the bootstrap token, no user token
)

// rule is what the matrix expects of one registered route: the request to
// send (path with its parameters filled, body) and who is let through.
type rule struct {
	path    string
	body    any
	allowed who
	// fresh: the request uses up its token (logout, refresh), so each
	// principal logs in anew for it.
	fresh bool
}

// TestRoleMatrix builds the matrix from the hub's registered routes ×
// six principals and checks who is let through. "Let through" means the
// answer is neither 401 nor 403; the handler may still refuse the input
// (404, 409, 422, 503). A route registered without a rule here fails the
// test, and so does a rule for a route that is not registered.
func TestRoleMatrix(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { roleMatrix(t, startHub(t, storetest.Open(t, d))) })
	}
}

func roleMatrix(t *testing.T, h *hub) {
	rootTok := h.login(adminName, adminPass)
	acme := h.newTenant(rootTok, "acme")
	h.register("pending", "Pending-pass1", true)
	appr := h.register("approved", "Approved-pass1", true)
	h.auditUser(rootTok, appr.ID, 1)
	_, memberTok := h.subUser(acme.token, "member", false)
	victim, _ := h.subUser(acme.token, "victim", false)

	creds := [nPrincipals][2]string{
		pending: {"pending", "Pending-pass1"}, approved: {"approved", "Approved-pass1"},
		member: {"member", "Pw-member1"}, badmin: {"acme-admin", "Pw-acme1"}, sysadmin: {adminName, adminPass},
	}
	tokens := [nPrincipals]string{pending: h.login("pending", "Pending-pass1"), approved: h.login("approved", "Approved-pass1"),
		member: memberTok, badmin: acme.token, sysadmin: rootTok}
	for p := pending; p < nPrincipals; p++ {
		if got := h.info(tokens[p]).Role; got != p-1 {
			t.Fatalf("fixture %s has role %d", principalNames[p], got)
		}
	}

	empty := map[string]any{}
	rules := map[string]rule{
		"GET /healthz": {"/healthz", nil, everyone, false},
		"GET /readyz":  {"/readyz", nil, everyone, false},
		"GET /metrics": {"/metrics", nil, everyone, false},
		// The API's description, for anyone who may script against it.
		"GET /v1/openapi.json": {"/v1/openapi.json", nil, everyone, false},
		"GET /v1/docs":         {"/v1/docs", nil, everyone, false},
		"GET /":                {"/", nil, everyone, false},
		"GET /console/:asset":  {"/console/app.js", nil, everyone, false},

		"POST /v1/authorization":   {"/v1/authorization", empty, everyone, false},
		"PUT /v1/authorization":    {"/v1/authorization", nil, signedIn, true},
		"DELETE /v1/authorization": {"/v1/authorization", nil, signedIn, true},
		"GET /v1/authorization":    {"/v1/authorization", nil, signedIn, false},
		"POST /v1/user":            {"/v1/user", empty, everyone, false},
		"PUT /v1/user":             {"/v1/user", map[string]any{"oldPassword": "Wrong-pass1", "password": "Newpass-word1"}, signedIn, false},

		"GET /v1/admin/user":                  {"/v1/admin/user", nil, admins, false},
		"POST /v1/admin/user":                 {"/v1/admin/user", empty, admins, false},
		"DELETE /v1/admin/user/:userId":       {"/v1/admin/user/999999", nil, admins, false},
		"PUT /v1/admin/user/:userId/password": {fmt.Sprintf("/v1/admin/user/%d/password", victim.ID), map[string]any{"password": "weak"}, admins, false},
		"PUT /v1/admin/user/:userId":          {fmt.Sprintf("/v1/admin/user/%d", victim.ID), map[string]any{"status": 9}, root, false},

		// An approved administrator may create a business; one that has a
		// business already (role 3) gets past the role check and is refused
		// with 409 (see TestBusinessLifecycle).
		"POST /v1/business":                  {"/v1/business", empty, who{approved, badmin}, false},
		"GET /v1/business":                   {"/v1/business", nil, signedIn, false},
		"GET /v1/business/id/:id":            {fmt.Sprintf("/v1/business/id/%d", acme.business.ID), nil, signedIn, false},
		"PUT /v1/business/id/:id":            {fmt.Sprintf("/v1/business/id/%d", acme.business.ID), map[string]any{"status": 9}, root, false},
		"GET /v1/cluster":                    {"/v1/cluster", nil, verified, false},
		"POST /v1/cluster/label":             {"/v1/cluster/label", empty, root, false},
		"DELETE /v1/cluster/label":           {"/v1/cluster/label", empty, root, false},
		"GET /v1/cluster/label":              {"/v1/cluster/label", nil, verified, false},
		"GET /v1/cluster/label/:clusterName": {"/v1/cluster/label/edge-1", nil, verified, false},
		"GET /v1/node":                       {"/v1/node", nil, verified, false},
		"POST /v1/node/label":                {"/v1/node/label", empty, root, false},
		"DELETE /v1/node/label":              {"/v1/node/label", empty, root, false},
		"GET /v1/node/label":                 {"/v1/node/label", nil, verified, false},

		// Apps belong to a business: its members write them; the system
		// administrator reads all.
		"POST /v1/app":          {"/v1/app", empty, tenants, false},
		"POST /v1/app/chart":    {"/v1/app/chart", empty, tenants, false},
		"DELETE /v1/app":        {"/v1/app", empty, tenants, false},
		"GET /v1/app":           {"/v1/app", nil, members, false},
		"GET /v1/app/id/:appId": {"/v1/app/id/999999", nil, members, false},

		"POST /v1/deploy":                      {"/v1/deploy", empty, tenants, false},
		"GET /v1/deploy":                       {"/v1/deploy", nil, members, false},
		"GET /v1/deploy/id/:deployId":          {"/v1/deploy/id/999999", nil, members, false},
		"POST /v1/deploy/id/:deployId":         {"/v1/deploy/id/999999", empty, members, false},
		"PUT /v1/deploy/id/:deployId":          {"/v1/deploy/id/999999", empty, members, false},
		"DELETE /v1/deploy/id/:deployId":       {"/v1/deploy/id/999999", nil, members, false},
		"POST /v1/deploy/id/:deployId/rollout": {"/v1/deploy/id/999999/rollout", empty, members, false},
		"DELETE /v1/deploy/:deployName":        {"/v1/deploy/nope", nil, members, false},
		"PUT /v1/admin/deploy":                 {"/v1/admin/deploy", empty, admins, false},
		"POST /v1/admin/deploy":                {"/v1/admin/deploy", empty, admins, false},
		"GET /v1/admin/deploy":                 {"/v1/admin/deploy", nil, admins, false},
		"GET /v1/admin/audit":                  {"/v1/admin/audit", nil, admins, false},
		"POST /v1/repository/third":            {"/v1/repository/third", empty, tenants, false},
		"DELETE /v1/repository/third":          {"/v1/repository/third", empty, tenants, false},
		"GET /v1/repository/third":             {"/v1/repository/third", nil, tenants, false},
		"GET /v1/repository/third/:repoId":     {"/v1/repository/third/x", nil, tenants, false},

		// Without a registry these answer 503 past the role check.
		"GET /v1/repository/image":        {"/v1/repository/image", nil, members, false},
		"DELETE /v1/repository/image":     {"/v1/repository/image", empty, members, false},
		"GET /v1/repository/image/tag":    {"/v1/repository/image/tag", nil, members, false},
		"DELETE /v1/repository/image/tag": {"/v1/repository/image/tag", empty, members, false},
		"POST /v1/repository/user":        {"/v1/repository/user", empty, members, false},
		"PUT /v1/repository/user":         {"/v1/repository/user", empty, members, false},
		"GET /v1/repository/project":      {"/v1/repository/project", nil, members, false},
		"POST /v1/repository/project":     {"/v1/repository/project", empty, members, false},
		"DELETE /v1/repository/project":   {"/v1/repository/project", empty, members, false},

		// The registry's realm takes Basic registry credentials (or none,
		// for anonymous pulls), never a platform token.
		"GET /v1/registry/token":     {"/v1/registry/token", nil, everyone, false},
		"POST /v1/registry/token":    {"/v1/registry/token", nil, everyone, false},
		"GET /v1/registry/jwks.json": {"/v1/registry/jwks.json", nil, everyone, false},

		// Agents' routes: a platform token opens none of them.
		"POST /v1/agent/join":                          {"/v1/agent/join", map[string]any{"clusterName": "x"}, nobody, false},
		"GET /v1/agent/tunnel":                         {"/v1/agent/tunnel", nil, nobody, false},
		"GET /v1/agent/charts/:digest":                 {"/v1/agent/charts/sha256:00", nil, nobody, false},
		"GET /v1/agent/pullsecrets/:namespace/:repoId": {"/v1/agent/pullsecrets/ns1/x", nil, nobody, false},
	}

	// Handlers mounted with Use serve every path under their prefix: only
	// the global middleware (prefix "/") may be, or a mounted handler
	// would answer requests that no rule covers.
	routes := map[string]bool{}
	for _, r := range h.app.GetRoutes(true) {
		routes[r.Method+" "+r.Path] = true
	}
	for _, r := range h.app.GetRoutes(false) {
		if !routes[r.Method+" "+r.Path] && r.Path != "/" {
			t.Errorf("a handler is mounted with Use on %s %s: give it a route and a rule", r.Method, r.Path)
		}
	}
	registered := map[string]bool{}
	for _, r := range h.app.GetRoutes(true) {
		method := r.Method
		if method == "HEAD" { // fiber serves HEAD for every GET: same rule
			method = "GET"
		}
		registered[method+" "+r.Path] = true
	}
	var keys []string
	for k := range registered {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := rules[k]; !ok {
			t.Errorf("route %s is registered but has no rule in the role matrix", k)
		}
	}
	for k := range rules {
		if !registered[k] {
			t.Errorf("the role matrix has a rule for %s, which is not registered", k)
		}
	}

	// The description says who may call each operation: the same as the
	// matrix finds.
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		op := h.operation(method, path)
		var documented who
		switch op.Access {
		case "public":
			documented = everyone
		case "signedIn":
			documented = signedIn
		case "agent", "bootstrap":
			documented = nobody
		default:
			for _, role := range op.Roles {
				documented = append(documented, role+1) // principal p has role p-1
			}
		}
		if rl := rules[k]; fmt.Sprint(documented) != fmt.Sprint(rl.allowed) {
			t.Errorf("%s: the description lets %v call it (x-ote-access %s), the matrix %v", k, documented, op.Access, rl.allowed)
		}
	}

	cells := 0
	for _, k := range keys {
		rl, ok := rules[k]
		if !ok {
			continue
		}
		method := strings.SplitN(k, " ", 2)[0]
		allowed := map[int]bool{}
		for _, p := range rl.allowed {
			allowed[p] = true
		}
		for p := anon; p < nPrincipals; p++ {
			tok := tokens[p]
			if rl.fresh && p != anon {
				tok = h.login(creds[p][0], creds[p][1])
			}
			r := h.do(method, rl.path, tok, rl.body)
			cells++
			if let := r.Status != 401 && r.Status != 403; let != allowed[p] {
				t.Errorf("%s as %s: status %d (%s); allowed=%v", k, principalNames[p], r.Status, r.Message, allowed[p])
			}
		}
	}
	t.Logf("role matrix: %d routes x %d principals = %d requests", len(keys), nPrincipals, cells)
}

// TestTokenForgery: a token must be the hub's, whole and unexpired.
func TestTokenForgery(t *testing.T) {
	h := startHub(t, storetest.Open(t, storetest.Dialects[0]))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	parts := strings.Split(acme.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", acme.token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	// The business administrator claims to be user 1 (the system administrator).
	claims["sub"] = "1"
	forgedPayload, _ := json.Marshal(claims)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + parts[2]

	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte("another-key-0123456789abcdef0123"))
	expiredClaims := map[string]any{}
	for k, v := range claims {
		expiredClaims[k] = v
	}
	expiredClaims["sub"] = fmt.Sprint(acme.admin.ID)
	expiredClaims["exp"] = time.Now().Add(-time.Minute).Unix()
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(expiredClaims)).SignedString(jwtKey)
	for name, tok := range map[string]string{
		"alg none": noneTok, "tampered payload": tampered, "other key": otherKey, "expired": expired,
		"truncated": parts[0] + "." + parts[1], "garbage": "not-a-token",
	} {
		for _, path := range []string{"/v1/authorization", "/v1/admin/user", "/v1/admin/audit"} {
			if r := h.do("GET", path, tok, nil); r.Status != 401 {
				t.Errorf("%s token on %s: status %d, want 401", name, path, r.Status)
			}
		}
	}
	// The genuine token still works.
	if h.info(acme.token).Role != 3 {
		t.Fatal("genuine token refused")
	}
}

// TestMassAssignment: fields a caller may not set are ignored wherever they
// are sent.
func TestMassAssignment(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		beta := h.newTenant(root, "beta")

		// Self-registration cannot approve itself, make itself a system
		// administrator or join a business.
		body := newUserBody("sneaky", "Sneaky-pass1", true)
		for k, v := range map[string]any{"status": 1, "role": 4, "isSysAdmin": true, "businessId": acme.business.ID, "id": 1} {
			body[k] = v
		}
		h.secrets = append(h.secrets, "Sneaky-pass1")
		var u userOut
		h.expect(200, "POST", "/v1/user", "", body).into(t, &u)
		if u.Status != 0 || u.BusinessID != 0 || u.ID == 1 {
			t.Fatalf("registered as %+v", u)
		}
		if i := h.info(h.login("sneaky", "Sneaky-pass1")); i.Role != 0 || i.BusinessID != 0 {
			t.Fatalf("sneaky logs in as %+v", i)
		}

		// A business administrator's sub-user joins its own business,
		// whatever the body says, and is no system administrator.
		sub := newUserBody("sub", "Sub-pass-11", false)
		sub["businessId"], sub["isSysAdmin"], sub["status"] = beta.business.ID, true, 3
		h.secrets = append(h.secrets, "Sub-pass-11")
		h.expect(200, "POST", "/v1/admin/user", acme.token, sub).into(t, &u)
		if u.BusinessID != acme.business.ID || u.Status != 1 {
			t.Fatalf("sub-user created as %+v", u)
		}
		if i := h.info(h.login("sub", "Sub-pass-11")); i.Role != 2 || i.BusinessID != acme.business.ID {
			t.Fatalf("sub-user logs in as %+v", i)
		}

		// A new business is pending, whoever its body says approved it.
		owner := h.register("owner", "Owner-pass1", true)
		h.auditUser(root, owner.ID, 1)
		otok := h.login("owner", "Owner-pass1")
		b := businessBody("gamma")
		b["status"], b["id"], b["userId"] = 1, beta.business.ID, 1
		var got businessOut
		h.expect(200, "POST", "/v1/business", otok, b).into(t, &got)
		if got.Status != 0 || got.ID == beta.business.ID || got.UserID != owner.ID {
			t.Fatalf("business created as %+v", got)
		}
		if h.info(otok).Role != 1 {
			t.Fatal("a pending business made its owner a business administrator")
		}

		// An app sent with another business's id stays in the caller's.
		app := with(appBody("web", "1.0"), "volume", nil)
		app["businessId"] = beta.business.ID
		h.expect(200, "POST", "/v1/app", acme.token, app)
		var apps []map[string]any
		h.expect(200, "GET", "/v1/app?appName=web", beta.token, nil).into(t, &apps)
		if len(apps) != 0 {
			t.Fatalf("beta sees %v", apps)
		}
		h.expect(200, "GET", "/v1/app?appName=web", acme.token, nil).into(t, &apps)
		if len(apps) != 1 {
			t.Fatalf("acme sees %v", apps)
		}
	})
}

// TestObjectIsolation: a second business's administrator and member can
// neither read nor change the first business's objects, by id or by name.
func TestObjectIsolation(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		beta := h.newTenant(root, "beta")
		_, betaMember := h.subUser(beta.token, "beta-member", false)
		_, acmeMember := h.subUser(acme.token, "acme-member", false)

		var app struct {
			ID uint64 `json:"id"`
		}
		h.expect(200, "POST", "/v1/app", acme.token, with(appBody("web", "1.0"), "volume", nil)).into(t, &app)
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", acmeMember, map[string]any{"deployName": "web", "appName": "web", "version": "1.0",
			"cluster": "east", "nodeLabel": "", "comment": "please"}).into(t, &d)
		h.expect(200, "POST", "/v1/repository/third", acme.token, repoBody("hub1", "Repo-pass-1"))
		audit := h.pendingAudit(acme.token, d.ID)

		for name, tok := range map[string]string{"beta's administrator": beta.token, "beta's member": betaMember} {
			for _, rq := range []struct {
				method, path string
				body         any
			}{
				{"GET", fmt.Sprintf("/v1/app/id/%d", app.ID), nil},
				{"DELETE", "/v1/app", map[string]any{"appId": []uint64{app.ID}}},
				{"GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), nil},
				{"POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), map[string]any{"version": "1.0", "comment": "x"}},
				{"PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), map[string]any{"version": "1.0", "comment": "x"}},
				{"DELETE", fmt.Sprintf("/v1/deploy/id/%d", d.ID), nil},
				{"DELETE", "/v1/deploy/web", nil},
				{"GET", "/v1/repository/third/hub1", nil},
				{"DELETE", "/v1/repository/third", map[string]any{"repositoryId": []string{"hub1"}}},
			} {
				if r := h.do(rq.method, rq.path, tok, rq.body); r.Status != 404 && r.Status != 403 {
					t.Errorf("%s: %s %s answered %d: %s", name, rq.method, rq.path, r.Status, r.Raw)
				}
			}
			// By name: lists show nothing of acme's.
			for _, path := range []string{"/v1/app?appName=web", "/v1/deploy?deployName=web", "/v1/repository/third"} {
				if r := h.expect(200, "GET", path, tok, nil); r.Total == nil || *r.Total != 0 {
					t.Errorf("%s: GET %s shows %s", name, path, r.Raw)
				}
			}
			// A deployment of acme's app by name is not found in beta.
			if r := h.do("POST", "/v1/deploy", tok, map[string]any{"deployName": "steal", "appName": "web", "version": "1.0",
				"cluster": "east", "nodeLabel": "", "comment": "x"}); r.Status != 404 && r.Status != 403 {
				t.Errorf("%s deploys acme's app: %d %s", name, r.Status, r.Raw)
			}
		}
		h.expect(404, "PUT", "/v1/admin/deploy", beta.token, map[string]any{"id": audit.ID, "status": 1, "comment": "mine now"})

		// Acme's objects are untouched.
		h.expect(200, "GET", fmt.Sprintf("/v1/app/id/%d", app.ID), acme.token, nil)
		if got := h.getDeploy(acme.token, d.ID); got.DeployName != "web" {
			t.Fatalf("deployment now %+v", got)
		}
		h.pendingAudit(acme.token, d.ID)
		h.expect(200, "GET", "/v1/repository/third/hub1", acme.token, nil)
	})
}
