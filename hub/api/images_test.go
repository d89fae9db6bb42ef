package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/registry"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// robotPassword is the derivation the hub uses for robots, under the test
// hub's secret key.
func robotPassword(business uint64) string {
	sealer, _ := secrets.New([]byte("test-secret-key-0123456789abcdef"))
	return hex.EncodeToString(sealer.Derive(fmt.Sprintf("registry-robot:%d", business))[:24])
}

var testIssuer, _ = registry.NewIssuer("ote-hub", "ote-registry", []byte(strings.Repeat("r", 32)), time.Minute)

// withRegistry fronts the registry at base (a real embedded registry, or a
// stand-in for a failing one).
func withRegistry(t testing.TB, base string) option {
	c, err := registry.NewClient(base, testIssuer, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg *api.Config) {
		cfg.Registry = &api.RegistryConfig{Client: c, Issuer: testIssuer, Host: "registry.test:5000"}
	}
}

// embeddedRegistry starts a real distribution registry trusting testIssuer.
func embeddedRegistry(t *testing.T) string {
	t.Helper()
	emb, err := registry.StartEmbedded(context.Background(), registry.EmbeddedOptions{
		Listen: "127.0.0.1:0", Dir: filepath.Join(t.TempDir(), "registry"), Issuer: testIssuer, Secret: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Shutdown(context.Background()) })
	return "http://" + emb.Addr().String()
}

type tokenAnswer struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
	Scope       string `json:"scope"`
}

// token asks the realm for scopes with Basic credentials (none when user is
// empty) and returns the status and what the token grants.
func (h *hub) registryToken(user, pw string, scopes ...string) (int, map[string][]string) {
	h.t.Helper()
	q := url.Values{"service": {"ote-registry"}, "scope": scopes}
	req, _ := http.NewRequest("GET", h.url+"/v1/registry/token?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	var a tokenAnswer
	json.NewDecoder(resp.Body).Decode(&a)
	if a.Token == "" || a.Token != a.AccessToken || a.ExpiresIn != 60 || a.IssuedAt == "" {
		h.t.Fatalf("token answer %+v", a)
	}
	sub, acc, err := testIssuer.Verify(a.Token)
	if err != nil || sub != user {
		h.t.Fatalf("token: subject %q %v", sub, err)
	}
	out := map[string][]string{}
	for _, x := range acc {
		out[x.Type+":"+x.Name] = x.Actions
	}
	return 200, out
}

func TestRegistryTokenPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *sqlstore.Store) {
		h := startHub(t, st, withRegistry(t, embeddedRegistry(t)))
		root := h.login(adminName, adminPass)
		acme, beta := h.newTenant(root, "acme"), h.newTenant(root, "beta")
		_, worker := h.subUser(acme.token, "acme-worker", false)
		h.secrets = append(h.secrets, "Acme-reg1", "Beta-reg1", "Root-reg1", "Work-reg1")
		for tok, body := range map[string]map[string]string{
			acme.token: {"user": "acme-reg", "password": "Acme-reg1"},
			beta.token: {"user": "beta-reg", "password": "Beta-reg1"},
			root:       {"user": "root-reg", "password": "Root-reg1"},
			worker:     {"user": "work-reg", "password": "Work-reg1"},
		} {
			h.expect(200, "POST", "/v1/repository/user", tok, body)
		}
		h.expect(201, "POST", "/v1/repository/project", acme.token, map[string]any{"projectName": "acme", "public": false})
		h.expect(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "library", "public": true})

		all := []string{"repository:acme/web:pull,push,delete,*", "repository:library/base:pull,push", "repository:ghost/x:pull", "registry:catalog:*", "repository:acme/../x:pull"}
		for _, tc := range []struct {
			who, user, pw string
			want          map[string][]string
		}{
			{"business admin", "acme-reg", "Acme-reg1", map[string][]string{"repository:acme/web": {"pull", "push"}, "repository:library/base": {"pull"}}},
			{"general user of the business", "work-reg", "Work-reg1", map[string][]string{"repository:acme/web": {"pull", "push"}, "repository:library/base": {"pull"}}},
			{"another business", "beta-reg", "Beta-reg1", map[string][]string{"repository:library/base": {"pull"}}},
			{"anonymous", "", "", map[string][]string{"repository:library/base": {"pull"}}},
			{"system administrator", "root-reg", "Root-reg1", map[string][]string{
				"repository:acme/web": {"pull", "push", "delete", "*"}, "repository:library/base": {"pull", "push"}, "registry:catalog": {"*"}}},
		} {
			status, got := h.registryToken(tc.user, tc.pw, all...)
			if status != 200 || len(got) != len(tc.want) {
				t.Errorf("%s: %d %v, want %v", tc.who, status, got, tc.want)
				continue
			}
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s: %s = %v, want %v", tc.who, k, got[k], v)
				}
			}
		}

		// A business's robot (what its workloads pull with) pulls the
		// business's projects and the public ones, nothing else.
		h.expect(201, "POST", "/v1/repository/project", beta.token, map[string]any{"projectName": "beta", "public": false})
		robot, robotPw := fmt.Sprintf("robot$ns%d", acme.business.ID), robotPassword(acme.business.ID)
		status, got := h.registryToken(robot, robotPw, "repository:acme/web:pull,push", "repository:beta/x:pull", "repository:library/base:pull")
		if status != 200 || !slices.Equal(got["repository:acme/web"], []string{"pull"}) || got["repository:beta/x"] != nil || got["repository:library/base"] == nil {
			t.Fatalf("robot: %d %v", status, got)
		}
		if status, _ := h.registryToken(robot, robotPassword(beta.business.ID), "repository:acme/web:pull"); status != 401 {
			t.Fatalf("robot with another business's password: %d", status)
		}

		// Wrong password and unknown user: 401 with a Basic challenge.
		for _, creds := range [][2]string{{"acme-reg", "Wrong-pass1"}, {"nobody", "Acme-reg1"}} {
			if status, _ := h.registryToken(creds[0], creds[1], all[0]); status != 401 {
				t.Errorf("%v: %d", creds, status)
			}
		}
		// The OAuth2 password grant (containerd), and what it refuses.
		post := func(form url.Values) (*http.Response, tokenAnswer) {
			resp, err := http.PostForm(h.url+"/v1/registry/token", form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var a tokenAnswer
			json.NewDecoder(resp.Body).Decode(&a)
			return resp, a
		}
		resp, a := post(url.Values{"grant_type": {"password"}, "username": {"acme-reg"}, "password": {"Acme-reg1"},
			"service": {"ote-registry"}, "scope": {"repository:acme/web:pull,push repository:library/base:pull"}, "client_id": {"containerd"}})
		if resp.StatusCode != 200 || a.AccessToken == "" || a.Scope == "" {
			t.Fatalf("password grant: %d %+v", resp.StatusCode, a)
		}
		if _, acc, _ := testIssuer.Verify(a.AccessToken); len(acc) != 2 {
			t.Fatalf("password grant access %+v", acc)
		}
		if resp, _ := post(url.Values{"grant_type": {"password"}, "username": {"acme-reg"}, "password": {"nope"}}); resp.StatusCode != 401 {
			t.Fatalf("password grant, wrong password: %d", resp.StatusCode)
		}
		if resp, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}); resp.StatusCode != 400 {
			t.Fatalf("refresh grant: %d", resp.StatusCode)
		}
		h.expect(400, "GET", "/v1/registry/token?service=elsewhere", "", nil)
		h.expect(400, "GET", "/v1/registry/token?scope=nonsense", "", nil)

		// Registry passwords are sealed at rest; a password change takes.
		var sealed []string
		h.store.DB().Raw("SELECT password_sealed FROM registry_users").Scan(&sealed)
		for _, s := range sealed {
			if !strings.HasPrefix(s, "v1:") || strings.Contains(s, "reg1") {
				t.Fatalf("stored registry password %q", s)
			}
		}
		h.secrets = append(h.secrets, "Acme-new12")
		h.expect(422, "PUT", "/v1/repository/user", acme.token, map[string]string{"password": "weak"})
		h.expect(200, "PUT", "/v1/repository/user", acme.token, map[string]string{"password": "Acme-new12"})
		if status, _ := h.registryToken("acme-reg", "Acme-reg1", all[0]); status != 401 {
			t.Fatalf("old password after change: %d", status)
		}
		if status, _ := h.registryToken("acme-reg", "Acme-new12", all[0]); status != 200 {
			t.Fatalf("new password: %d", status)
		}
		_, other := h.subUser(beta.token, "beta-worker", false)
		h.expect(404, "PUT", "/v1/repository/user", other, map[string]string{"password": "Beta-new12"})
		// The registry's key for an external registry.
		if r := h.do("GET", "/v1/registry/jwks.json", "", nil); r.Status != 200 || !strings.Contains(r.Raw, testIssuer.KeyID()) {
			t.Fatalf("jwks: %d %s", r.Status, r.Raw)
		}
	})
}

func TestImageEndpointsRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *sqlstore.Store) {
		h := startHub(t, st, withRegistry(t, embeddedRegistry(t)), withFeatures(api.Features{PrivateProject: false}))
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		_, worker := h.subUser(acme.token, "acme-worker", false)
		var p struct {
			ProjectID   uint64 `json:"projectId"`
			ProjectName string `json:"projectName"`
			Public      bool   `json:"public"`
			CreateTime  string `json:"createTime"`
		}
		// Without --private-project a member may make a public project.
		h.expect(201, "POST", "/v1/repository/project", worker, map[string]any{"projectName": "shared", "public": true}).into(t, &p)
		if p.ProjectName != "shared" || !p.Public || p.ProjectID == 0 {
			t.Fatalf("created %+v", p)
		}
		if _, err := time.Parse(time.RFC3339, p.CreateTime); err != nil {
			t.Fatalf("createTime %q: %v", p.CreateTime, err)
		}
		if err := st.PutTag(context.Background(), "shared/app", "v1", "sha256:aaaa", time.Now()); err != nil {
			t.Fatal(err)
		}
		// General users may not delete; nor may they delete projects.
		h.expect(403, "DELETE", "/v1/repository/image", worker, map[string]any{"imageName": []string{"shared/app"}})
		h.expect(403, "DELETE", "/v1/repository/image/tag", worker, map[string]any{"imageName": "shared/app", "tag": []string{"v1"}})
		h.expect(403, "DELETE", "/v1/repository/project", worker, map[string]any{"projectId": []uint64{p.ProjectID}})
		// Field errors name the field.
		for path, body := range map[string]any{
			"/v1/repository/image":     map[string]any{"imageName": []string{}},
			"/v1/repository/image/tag": map[string]any{"imageName": "shared/app", "tag": []string{}},
			"/v1/repository/project":   map[string]any{"projectId": []uint64{}},
		} {
			if r := h.expect(422, "DELETE", path, acme.token, body); !strings.Contains(r.Message, ":") {
				t.Errorf("%s: %q", path, r.Message)
			}
		}
		h.expect(422, "GET", "/v1/repository/project?public=maybe", worker, nil)
		h.expect(422, "GET", "/v1/repository/image?projectName=shared&pageSize=-1", worker, nil)
		h.expect(422, "GET", "/v1/repository/image?projectName=shared&orderBy=name", worker, nil)
		h.expect(404, "GET", "/v1/repository/image?projectName=ghost", worker, nil)
		// Pending users have no image endpoints.
		h.register("pending-user", "Pw-pending1", false)
		pending := h.login("pending-user", "Pw-pending1")
		h.expect(403, "GET", "/v1/repository/project", pending, nil)
		h.expect(403, "POST", "/v1/repository/user", pending, map[string]string{"user": "p", "password": "Pw-pending1"})
	})
}

// A registry that fails gives 502, one that is not there 503; nothing of
// the index is lost and the rest of the API keeps serving.
func TestRegistryFailures(t *testing.T) {
	st := storetest.Open(t, storetest.Dialects[0])
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"storage driver failed"}]}`))
	}))
	defer failing.Close()
	for _, tc := range []struct {
		base   string
		status int
	}{{failing.URL, 502}, {"http://127.0.0.1:1", 503}} {
		h := startHub(t, st, withRegistry(t, tc.base))
		root := h.login(adminName, adminPass)
		if r := h.do("POST", "/v1/repository/project", root, map[string]any{"projectName": "ops", "public": false}); r.Status != 201 && r.Status != 409 {
			t.Fatalf("project: %d", r.Status)
		}
		if err := st.PutTag(context.Background(), "ops/tool", "v1", "sha256:bbbb", time.Now()); err != nil {
			t.Fatal(err)
		}
		r := h.expect(tc.status, "DELETE", "/v1/repository/image", root, map[string]any{"imageName": []string{"ops/tool"}})
		if !strings.Contains(r.Message, "registry") || strings.Contains(r.Message, "goroutine") {
			t.Fatalf("%d message %q", tc.status, r.Message)
		}
		h.expect(tc.status, "DELETE", "/v1/repository/image/tag", root, map[string]any{"imageName": "ops/tool", "tag": []string{"v1"}})
		if tags, err := st.TagDigests(context.Background(), "ops/tool"); err != nil || tags["v1"] != "sha256:bbbb" {
			t.Fatalf("index after a failed delete: %v %v", tags, err)
		}
		h.expect(200, "GET", "/v1/repository/image/tag?imageName=ops/tool", root, nil)
		h.expect(200, "GET", "/v1/authorization", root, nil)
		h.stop()
	}
	// No registry configured at all: 503 on its endpoints only.
	h := startHub(t, st)
	root := h.login(adminName, adminPass)
	h.expect(503, "GET", "/v1/repository/image?projectName=ops", root, nil)
	h.expect(503, "GET", "/v1/registry/token", "", nil)
	h.expect(200, "GET", "/v1/repository/project", root, nil)
}
