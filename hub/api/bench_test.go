package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// BenchmarkLogin measures POST /v1/authorization over HTTP with the production
// bcrypt cost: the hash comparison is the cost of a login by design.
func BenchmarkLogin(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			st := storetest.Open(b, d)
			saved := auth.BcryptCost
			auth.BcryptCost = 11
			hash, _ := auth.HashPassword("Bench-pass1")
			auth.BcryptCost = saved
			storetest.SeedUsers(b, st, "bench", 1, hash, 0)
			h := startHub(b, st)
			body := `{"user":"bench0","password":"Bench-pass1"}`
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchRequest(b, "POST", h.url+"/v1/authorization", "", body)
			}
		})
	}
}

// BenchmarkListUsers measures GET /v1/admin/user at 100,000 users, page size
// 10: authentication, count and page together, over HTTP.
func BenchmarkListUsers(b *testing.B) {
	const users = 100_000
	for _, d := range storetest.Dialects {
		b.Run(fmt.Sprintf("%s/users=%d", d, users), func(b *testing.B) {
			st := storetest.Open(b, d)
			storetest.SeedUsers(b, st, "user", users, []byte("x"), 0)
			h := startHub(b, st)
			root := h.login(adminName, adminPass)
			for _, q := range []string{
				"page=1&pageSize=10",
				"page=1&pageSize=10&orderBy=user_name&order=desc",
				"page=5000&pageSize=10",
			} {
				b.Run(q, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						benchRequest(b, "GET", h.url+"/v1/admin/user?"+q, root, "")
					}
				})
			}
		})
	}
}

func benchRequest(b *testing.B, method, url, token, body string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}

// BenchmarkListDeploys measures GET /v1/deploy at 100,000 deployments of one
// business, page size 10, as a member of that business.
func BenchmarkListDeploys(b *testing.B) {
	const deploys = 100_000
	for _, d := range storetest.Dialects {
		b.Run(fmt.Sprintf("%s/deploys=%d", d, deploys), func(b *testing.B) {
			st := storetest.Open(b, d)
			h := startHub(b, st)
			root := h.login(adminName, adminPass)
			tn := h.newTenant(root, "bench")
			storetest.SeedDeploys(b, st, tn.business.ID, deploys)
			for _, q := range []string{"page=1&pageSize=10", "page=1&pageSize=10&appName=app-42&appNameMode=strict", "page=1&pageSize=10&running=true",
				"page=1&pageSize=10&editable=true", "page=1&pageSize=10&running=true&editable=false"} {
				b.Run(q, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						benchRequest(b, "GET", h.url+"/v1/deploy?"+q, tn.token, "")
					}
				})
			}
		})
	}
}

// BenchmarkRegistryToken measures GET /v1/registry/token with a registry
// account's Basic credentials and two scopes: the account lookup, the
// unsealing of its password, the project lookups and the EdDSA signature.
func BenchmarkRegistryToken(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			st := storetest.Open(b, d)
			h := startHub(b, st, withRegistry(b, "http://127.0.0.1:1"))
			root := h.login(adminName, adminPass)
			h.expect(200, "POST", "/v1/repository/user", root, map[string]string{"user": "bench", "password": "Bench-reg1"})
			h.expect(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "bench", "public": true})
			url := h.url + "/v1/registry/token?service=ote-registry&scope=repository:bench/app:pull,push&scope=repository:bench/base:pull"
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("GET", url, nil)
				req.SetBasicAuth("bench", "Bench-reg1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("token: %v %v", err, resp)
				}
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkListImages measures GET /v1/repository/image at 10,000 images in
// one project, page size 10, with and without a name filter.
func BenchmarkListImages(b *testing.B) {
	const images = 10_000
	for _, d := range storetest.Dialects {
		b.Run(fmt.Sprintf("%s/images=%d", d, images), func(b *testing.B) {
			st := storetest.Open(b, d)
			h := startHub(b, st, withRegistry(b, "http://127.0.0.1:1"))
			root := h.login(adminName, adminPass)
			var p struct {
				ProjectID uint64 `json:"projectId"`
			}
			h.expect(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "bench", "public": false}).into(b, &p)
			storetest.SeedImages(b, st, p.ProjectID, "bench", images)
			for _, q := range []string{"projectName=bench", "projectName=bench&imageName=image-99", "projectName=bench&page=1000"} {
				b.Run(q, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						benchRequest(b, "GET", h.url+"/v1/repository/image?"+q, root, "")
					}
				})
			}
		})
	}
}
