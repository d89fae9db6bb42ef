package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

// longPassword is 20 characters (the seed's rule) of 4 bytes each: 80 bytes,
// more than bcrypt's 72.
var longPassword = "𐐀𝟎" + strings.Repeat("𐐨", 18)

func TestPasswordsBeyondBcryptAre422(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	u := h.register("dave", "Dave-pass1", false)

	for _, c := range []struct {
		method, path, token string
		body                map[string]any
	}{
		{"POST", "/v1/user", "", newUserBody("erin", longPassword, false)},
		{"POST", "/v1/admin/user", acme.token, newUserBody("frank", longPassword, false)},
		{"PUT", "/v1/user", acme.token, map[string]any{"oldPassword": "Pw-acme1", "password": longPassword}},
		{"PUT", fmt.Sprintf("/v1/admin/user/%d/password", u.ID), root, map[string]any{"password": longPassword}},
		{"POST", "/v1/repository/user", acme.token, map[string]any{"user": "acme-reg", "password": longPassword}},
		{"PUT", "/v1/repository/user", acme.token, map[string]any{"password": longPassword}},
	} {
		r := h.expect(422, c.method, c.path, c.token, c.body)
		if !strings.Contains(r.Message, "password") || !strings.Contains(r.Message, "72 bytes") {
			t.Errorf("%s %s: message %q does not name the limit", c.method, c.path, r.Message)
		}
	}
	// A long password at login is only a wrong password.
	h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": adminName, "password": longPassword})
}

func TestIDsBeyondTheDatabaseRange(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	for _, id := range []string{"9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999999"} {
		for _, c := range []struct{ method, path, token string }{
			{"GET", "/v1/business/id/" + id, root},
			{"PUT", "/v1/admin/user/" + id, root},
			{"DELETE", "/v1/admin/user/" + id, root},
			{"GET", "/v1/app/id/" + id, acme.token},
			{"GET", "/v1/deploy/id/" + id, acme.token},
			{"DELETE", "/v1/deploy/id/" + id, acme.token},
		} {
			var body any
			if c.method == "PUT" {
				body = map[string]any{"status": 1}
			}
			h.expect(404, c.method, c.path, c.token, body)
		}
	}
	// In bodies: 422 naming the field (2^64 and beyond do not decode at all).
	for _, body := range []string{`{"appId":[9223372036854775808]}`, `{"appId":[1,18446744073709551615]}`} {
		r := h.expect(422, "DELETE", "/v1/app", acme.token, body)
		if !strings.HasPrefix(r.Message, "appId:") {
			t.Errorf("DELETE /v1/app %s: %q", body, r.Message)
		}
	}
	h.expect(422, "DELETE", "/v1/repository/project", acme.token, `{"projectId":[9223372036854775808]}`)
	// The agents' pull secrets name a business namespace.
	cred := h.join("edge-1")
	req, _ := http.NewRequest("GET", h.url+protocol.PullSecretsPath+"/ns9223372036854775808/hub", nil)
	req.Header.Set(protocol.HeaderCluster, "edge-1")
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("pull secret of namespace ns2^63: %d", resp.StatusCode)
	}
	h.expect(422, "DELETE", "/v1/app", acme.token, `{"appId":[18446744073709551616]}`)
}

func TestPageOffsetOverflowIs422(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	for _, q := range []string{"page=9223372036854775807", "page=922337203685477582&pageSize=10", "page=9223372036854775807&pageSize=1000"} {
		r := h.expect(422, "GET", "/v1/admin/user?"+q, root, nil)
		if !strings.HasPrefix(r.Message, "page:") {
			t.Errorf("%s: %q", q, r.Message)
		}
	}
	// The last page that fits is an empty page, not the first.
	r := h.expect(200, "GET", "/v1/admin/user?page=922337203685477581&pageSize=10", root, nil)
	if string(r.Data) != "[]" {
		t.Fatalf("deep page: %s", r.Data)
	}
}
