package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store/storetest"
)

type docOperation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Access      string                     `json:"x-ote-access"`
	Roles       []int                      `json:"x-ote-roles"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// operation is the served description's operation for a route of fiber's
// syntax (/v1/app/id/:appId).
func (h *hub) operation(method, path string) docOperation {
	h.t.Helper()
	var doc struct {
		Paths map[string]map[string]docOperation `json:"paths"`
	}
	r := h.expect(200, "GET", "/v1/openapi.json", "", nil)
	if err := json.Unmarshal([]byte(r.Raw), &doc); err != nil {
		h.t.Fatal(err)
	}
	p := regexp.MustCompile(`:([A-Za-z]+)`).ReplaceAllString(path, "{$1}")
	op, ok := doc.Paths[p][strings.ToLower(method)]
	if !ok {
		h.t.Fatalf("%s %s is not in the description", method, p)
	}
	return op
}

// TestOpenAPIDescription: the hub serves a valid OpenAPI 3.1 description
// (apicheck loads and validates it with kin-openapi) whose every operation
// has a summary, says who may call it and documents its errors, and a
// page that shows every operation without fetching anything.
func TestOpenAPIDescription(t *testing.T) {
	h := startHub(t, storetest.Open(t, storetest.Dialects[0]))
	var doc struct {
		OpenAPI string                             `json:"openapi"`
		Paths   map[string]map[string]docOperation `json:"paths"`
	}
	r := h.expect(200, "GET", "/v1/openapi.json", "", nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal([]byte(r.Raw), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	ops := h.spec().Operations()
	if len(ops) < 60 {
		t.Fatalf("%d operations described", len(ops))
	}
	for p, item := range doc.Paths {
		for m, op := range item {
			if op.Summary == "" || op.Access == "" {
				t.Errorf("%s %s: no summary or x-ote-access", m, p)
			}
			if _, ok := op.Responses["503"]; !ok {
				t.Errorf("%s %s: 503 is not documented", m, p)
			}
			if op.Access != "public" {
				if _, ok := op.Responses["401"]; !ok {
					t.Errorf("%s %s: 401 is not documented", m, p)
				}
			}
		}
	}

	resp, err := http.Get(h.url + "/v1/docs")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /v1/docs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	html := string(page)
	for _, id := range ops {
		if !strings.Contains(html, `id="`+id+`"`) {
			t.Errorf("the page has no section for %s", id)
		}
	}
	if m := regexp.MustCompile(`(?i)<script|<link|src=|https?://`).FindString(html); m != "" {
		t.Errorf("the page fetches or runs something: %q", m)
	}
	for _, want := range []string{"POST", "/v1/deploy/id/{deployId}", "Rollback deployment", "deployType", "5 success"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}
