package api_test

import (
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func TestRoutingAndEnvelope(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withBodyLimit(4096))
	tok := h.login(adminName, adminPass)

	r := h.expect(404, "GET", "/v1/no-such-thing", tok, nil)
	if !strings.Contains(r.Message, "/v1/no-such-thing") {
		t.Errorf("404 message %q", r.Message)
	}
	h.expect(405, "PATCH", "/v1/user", tok, nil)
	h.expect(405, "POST", "/v1/admin/user/1", tok, map[string]any{})

	big := `{"user":"` + strings.Repeat("a", 5000) + `","password":"x"}`
	r = h.expect(413, "POST", "/v1/authorization", "", big)
	if !strings.Contains(r.Message, "4096") {
		t.Errorf("413 message %q", r.Message)
	}

	for body, want := range map[string]string{
		`{"user": "a",`:          "invalid JSON",
		`{"user": "a"} trailing`: "after the object",
		``:                       "empty",
		`[1,2]`:                  "expected an object",
		`{"user": 5}`:            "user: must be a string",
	} {
		r := h.expect(422, "POST", "/v1/authorization", "", body)
		if !strings.Contains(r.Message, want) {
			t.Errorf("body %q: message %q, want it to mention %q", body, r.Message, want)
		}
	}
	r = h.expect(422, "POST", "/v1/user", "", `{"user":"bob","password":"Abcdefg1","phone":"12345","realName":"B","isAdmin":"yes"}`)
	if !strings.Contains(r.Message, "isAdmin") {
		t.Errorf("type error does not name the field: %q", r.Message)
	}

	// Lists are [] when empty, with total.
	r = h.expect(200, "GET", "/v1/business", tok, nil)
	if string(r.Data) != "[]" || r.Total == nil || *r.Total != 0 {
		t.Errorf("empty list: data %s total %v", r.Data, r.Total)
	}
}

func TestContentTypeMustBeJSON(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	req := h.do("POST", "/v1/user", "", nil)
	if req.Status != 422 {
		t.Fatalf("no body: %d", req.Status)
	}
	resp := postForm(t, h.url+"/v1/authorization", "user=admin&password=x")
	if resp != 415 {
		t.Fatalf("form body: status %d, want 415", resp)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	st := storetest.Open(t, sqlstore.SQLite)
	h := startHub(t, st)
	h.expect(200, "GET", "/healthz", "", nil)
	h.expect(200, "GET", "/readyz", "", nil)
	h.expect(401, "GET", "/v1/admin/user/", "", nil)
	h.login(adminName, adminPass)
	m := h.expect(200, "GET", "/metrics", "", nil).Raw
	for _, want := range []string{
		`ote_hub_http_requests_total{method="POST",route="/v1/authorization",status="200"} 1`,
		`ote_hub_http_request_duration_seconds_bucket{method="POST",route="/v1/authorization",status="200",le="+Inf"} 1`,
		`route="/readyz"`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The database going away makes the hub unready, not dead.
	_ = st.Close()
	r := h.expect(503, "GET", "/readyz", "", nil)
	if !strings.Contains(r.Raw, "database") {
		t.Errorf("readyz body %s", r.Raw)
	}
	h.expect(200, "GET", "/healthz", "", nil)
}
