package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func TestLoginRefreshLogout(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		h.expect(422, "POST", "/v1/authorization", "", map[string]any{"password": "x"})
		h.expect(422, "POST", "/v1/authorization", "", map[string]any{"user": "admin"})
		r := h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": adminName, "password": "Wrong-pass1"})
		u := h.expect(401, "POST", "/v1/authorization", "", map[string]any{"user": "nobody", "password": "Wrong-pass1"})
		if r.Message != u.Message {
			t.Errorf("wrong password and unknown user answer differently: %q vs %q", r.Message, u.Message)
		}

		tok := h.login(adminName, adminPass)
		i := h.info(tok)
		if i.DisplayName != adminName || i.Role != 4 || i.HasRepoAccount || i.UserID == 0 {
			t.Fatalf("info %+v", i)
		}
		// The bare token is accepted too.
		req, _ := http.NewRequest("GET", h.url+"/v1/authorization", nil)
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("bare token: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()

		h.expect(401, "GET", "/v1/authorization", "", nil)
		h.expect(401, "GET", "/v1/authorization", "not-a-jwt", nil)
		h.expect(401, "GET", "/v1/authorization", tamper(tok), nil)

		// Refresh: a new token; the old one is revoked.
		var fresh struct {
			Token      string `json:"token"`
			ExpireTime int64  `json:"expireTime"`
		}
		h.expect(200, "PUT", "/v1/authorization", tok, nil).into(t, &fresh)
		if fresh.Token == "" || fresh.Token == tok {
			t.Fatalf("refresh returned %q", fresh.Token)
		}
		r = h.expect(401, "GET", "/v1/authorization", tok, nil)
		if !strings.Contains(r.Message, "revoked") {
			t.Errorf("old token message %q", r.Message)
		}
		h.info(fresh.Token)

		// Logout revokes.
		h.expect(200, "DELETE", "/v1/authorization", fresh.Token, nil)
		h.expect(401, "GET", "/v1/authorization", fresh.Token, nil)
		h.expect(401, "PUT", "/v1/authorization", fresh.Token, nil)
	})
}

// tamper changes one character in the middle of a token's signature. (The
// last two would not do: the last character of a 32-byte HMAC in base64url
// carries only 4 bits, and a decoder ignores the other two, so "xx" in
// their place left about one signature in a thousand valid.)
func tamper(tok string) string {
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func TestFeaturesAreReported(t *testing.T) {
	f := api.Features{PrivateProject: false, EnableIngress: true, EnableAlert: true, EnableAdminAutoDeploy: true}
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withFeatures(f))
	i := h.info(h.login(adminName, adminPass))
	if i.PrivateProject || !i.EnableIngress || !i.EnableAlert || !i.EnableAdminAutoDeploy {
		t.Fatalf("features %+v", i)
	}
}

func TestTokenRevocationSurvivesRestart(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			open := func() *sqlstore.Store {
				s, err := sqlstore.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			st := open()
			h := startHub(t, st)
			gone := h.login(adminName, adminPass)
			kept := h.login(adminName, adminPass)
			h.expect(200, "DELETE", "/v1/authorization", gone, nil)
			h.stop()
			_ = st.Close()

			st = open()
			t.Cleanup(func() { st.Close() })
			h = startHub(t, st)
			h.expect(401, "GET", "/v1/authorization", gone, nil)
			if h.info(kept).DisplayName != adminName {
				t.Fatal("a live token did not survive the restart")
			}
		})
	}
}
