package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// TestReadmeWalkthrough follows the README: start on the embedded defaults,
// log in with the printed password, register a general administrator, approve
// it, create and approve a business, and see the role change. Then restart the
// hub: the logged-out token stays dead, live tokens and data survive, and no
// second password is printed.
func TestReadmeWalkthrough(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dataDir := t.TempDir()
			args := []string{"--data-dir", dataDir}
			if d == sqlstore.Postgres {
				args = append(args, "--db", storetest.DSN(t, d))
			}
			h := startHub(t, "", args...)
			m := printedPassword.FindStringSubmatch(h.logs())
			if m == nil {
				t.Fatalf("no generated password in the output:\n%s", h.logs())
			}
			rootPass := m[1]
			root := h.login("admin", rootPass)
			if r := h.role(root); r != 4 {
				t.Fatalf("admin role %d", r)
			}

			h.must(200, "POST", "/v1/user", "", map[string]any{
				"user": "alice", "password": "Alice-pass1", "phone": "13800000000", "isAdmin": true, "realName": "Alice",
			})
			alice := h.login("alice", "Alice-pass1")
			if r := h.role(alice); r != 0 {
				t.Fatalf("registered role %d", r)
			}
			var users []struct {
				ID   uint64 `json:"id"`
				User string `json:"user"`
			}
			json.Unmarshal(h.must(200, "GET", "/v1/admin/user?orderBy=user_name", root, nil).Data, &users)
			var aliceID uint64
			for _, u := range users {
				if u.User == "alice" {
					aliceID = u.ID
				}
			}
			h.must(200, "PUT", fmt.Sprintf("/v1/admin/user/%d", aliceID), root, map[string]any{"status": 1})
			if r := h.role(alice); r != 1 {
				t.Fatalf("approved role %d", r)
			}
			var b struct{ ID uint64 }
			json.Unmarshal(h.must(200, "POST", "/v1/business", alice, map[string]any{
				"name": "acme", "introduce": "vision at the edge", "objective": "inference", "scale": "20 clusters",
			}).Data, &b)
			h.must(200, "PUT", fmt.Sprintf("/v1/business/id/%d", b.ID), root, map[string]any{"status": 1, "comment": "ok"})
			if r := h.role(alice); r != 3 {
				t.Fatalf("business administrator role %d", r)
			}

			h.must(200, "DELETE", "/v1/authorization", root, nil)
			h.must(401, "GET", "/v1/authorization", root, nil)
			if d == sqlstore.SQLite {
				if _, err := os.Stat(filepath.Join(dataDir, "hub.db")); err != nil {
					t.Fatalf("the embedded database is not in the data dir: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(dataDir, "jwt.key")); err != nil {
				t.Fatalf("the generated JWT key is not in the data dir: %v", err)
			}
			h.stop()
			if strings.Contains(h.logs(), "Alice-pass1") || strings.Contains(h.logs(), "$2a$") {
				t.Fatal("the log carries a password or hash")
			}
			if !strings.Contains(h.logs(), "hub stopped cleanly") {
				t.Fatalf("no clean shutdown in the log:\n%s", h.logs())
			}

			h2 := startHub(t, "", args...)
			if strings.Contains(h2.logs(), "password:") {
				t.Fatal("a second start printed a password again")
			}
			h2.must(401, "GET", "/v1/authorization", root, nil)
			if r := h2.role(alice); r != 3 {
				t.Fatalf("after restart alice has role %d", r)
			}
			h2.login("admin", rootPass)
		})
	}
}

func TestInvalidOptionsAreRefused(t *testing.T) {
	out, err := runHub("--db", "mysql://root:pw@db/x", "--admin-password", "weak", "--jwt-key", "short")
	if err == nil {
		t.Fatal("hub started with invalid options")
	}
	for _, want := range []string{"--db", "--admin-password", "--jwt-key"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name %s:\n%s", want, out)
		}
	}
}
