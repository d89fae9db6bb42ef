package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ote-stack/ote/protocol"
)

func repoBody(id, password string) map[string]any {
	return map[string]any{"repositoryId": id, "address": "registry.partner.example.com:5000", "user": "puller", "password": password}
}

func TestExternalRepositories(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		beta := h.newTenant(root, "beta")
		h.secrets = append(h.secrets, "S3cret-pull-pass", "N3w-pull-pass")

		for field, b := range map[string]map[string]any{
			"repositoryId": with(repoBody("p", "x"), "repositoryId", "has space"),
			"address":      with(repoBody("p", "x"), "address", "not an address!"),
			"user":         with(repoBody("p", "x"), "user", nil),
			"password":     with(repoBody("p", "x"), "password", ""),
		} {
			if r := h.expect(422, "POST", "/v1/repository/third", acme.token, b); !strings.HasPrefix(r.Message, field+":") {
				t.Errorf("%s: %q", field, r.Message)
			}
		}
		var got struct {
			RepositoryID string `json:"repositoryId"`
			Address      string `json:"address"`
			User         string `json:"user"`
			CreateTime   int64  `json:"createTime"`
		}
		h.expect(200, "POST", "/v1/repository/third", acme.token, repoBody("partner", "S3cret-pull-pass")).into(t, &got)
		if got.RepositoryID != "partner" || got.User != "puller" || got.CreateTime == 0 {
			t.Fatalf("created %+v", got)
		}
		h.expect(409, "POST", "/v1/repository/third", acme.token, repoBody("partner", "x"))
		h.expect(200, "POST", "/v1/repository/third", beta.token, repoBody("partner", "x")) // another business's
		h.expect(200, "GET", "/v1/repository/third/partner", acme.token, nil)
		h.expect(404, "GET", "/v1/repository/third/nope", acme.token, nil)
		if r := h.expect(200, "GET", "/v1/repository/third?pageSize=0&order=desc", acme.token, nil); *r.Total != 1 {
			t.Fatalf("acme lists %d repositories", *r.Total)
		}
		// At rest the password is sealed.
		var stored []string
		h.store.DB().Raw("SELECT password_sealed FROM repos").Scan(&stored)
		for _, s := range stored {
			if strings.Contains(s, "S3cret") || !strings.HasPrefix(s, "v1:") {
				t.Fatalf("stored password %q", s)
			}
		}

		// Agents get the .dockerconfigjson with their cluster credential.
		cred := h.join("edge-1")
		ns := fmt.Sprintf("ns%d", acme.business.ID)
		fetch := func(credential string) (int, []byte) {
			req, _ := http.NewRequest("GET", h.url+protocol.PullSecretsPath+"/"+ns+"/partner", nil)
			req.Header.Set(protocol.HeaderCluster, "edge-1")
			req.Header.Set("Authorization", "Bearer "+credential)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		if code, _ := fetch("otec_wrong"); code != 401 {
			t.Fatalf("wrong credential: %d", code)
		}
		code, b := fetch(cred)
		var cfg struct {
			Auths map[string]struct{ Username, Password, Auth string }
		}
		json.Unmarshal(b, &cfg)
		a := cfg.Auths["registry.partner.example.com:5000"]
		if code != 200 || a.Username != "puller" || a.Password != "S3cret-pull-pass" || a.Auth != base64.StdEncoding.EncodeToString([]byte("puller:S3cret-pull-pass")) {
			t.Fatalf("pull secret: %d %s", code, b)
		}

		// Deployments of an app that names the repository carry the pull
		// secret; new credentials rewrite the workload.
		app := appBody("private", "1.0")
		app["repositoryId"] = "missing"
		h.expect(200, "POST", "/v1/app", acme.token, app)
		r := h.expect(422, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "p0", "appName": "private", "version": "1.0"})
		if !strings.HasPrefix(r.Message, "repositoryId:") {
			t.Fatalf("deploy with a missing repository: %q", r.Message)
		}
		app = appBody("private", "1.1")
		app["repositoryId"] = "partner"
		h.expect(200, "POST", "/v1/app", acme.token, app)
		var d deployOut
		h.expect(200, "POST", "/v1/deploy", acme.token, map[string]any{"deployName": "p1", "appName": "private", "version": "1.1"}).into(t, &d)
		h.decide(root, d.ID, 1)
		spec := func() *protocol.ContainerSpec {
			items, _ := h.store.DesiredSince(context.Background(), 1, 0, 100)
			for _, it := range items {
				if it.Name == ns+"/p1" && !it.Deleted {
					var ws protocol.WorkloadSpec
					json.Unmarshal(it.Spec, &ws)
					return ws.Container
				}
			}
			t.Fatal("no workload item")
			return nil
		}
		first := spec()
		if first.ImagePullSecret != "ote-repo-partner" || first.PullSecret == nil || first.PullSecret.RepositoryID != "partner" {
			t.Fatalf("workload %+v", first)
		}
		if strings.Contains(fmt.Sprint(first), "S3cret") {
			t.Fatal("the password is in the desired item")
		}
		h.expect(200, "DELETE", "/v1/repository/third", acme.token, map[string]any{"repositoryId": []string{"partner"}})
		h.expect(404, "DELETE", "/v1/repository/third", acme.token, map[string]any{"repositoryId": []string{"partner"}})
		h.expect(200, "POST", "/v1/repository/third", acme.token, repoBody("partner", "N3w-pull-pass"))
		if second := spec(); second.PullSecret.Fingerprint == first.PullSecret.Fingerprint {
			t.Fatal("new credentials did not change the workload")
		}
		// Other businesses see none of it.
		h.expect(403, "GET", "/v1/repository/third/partner", root, nil)
		h.expect(404, "GET", "/v1/repository/third/nothere", beta.token, nil)
	})
}
