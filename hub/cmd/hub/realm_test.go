package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The registry listener's realm converts requests to fiber's by reading
// their bodies: it reads at most realmBodyLimit.
func TestRealmOnRegistryBoundsBodies(t *testing.T) {
	app := fiber.New()
	app.Post("/v1/registry/token", func(c *fiber.Ctx) error { return c.SendString(strconv.Itoa(len(c.Body()))) })
	srv := httptest.NewServer(tokenOnRegistry(app))
	defer srv.Close()
	for _, c := range []struct {
		name    string
		size    int
		chunked bool
		status  int
	}{
		{"small", 100, false, 200},
		{"small chunked", 100, true, 200},
		{"declared too large", realmBodyLimit + 1, false, 413},
		{"chunked too large", realmBodyLimit + 1, true, 413},
	} {
		var body io.Reader = strings.NewReader(strings.Repeat("a", c.size))
		if c.chunked {
			body = io.MultiReader(body) // of no known length: sent chunked
		}
		req, _ := http.NewRequest("POST", srv.URL+"/auth/token", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}
