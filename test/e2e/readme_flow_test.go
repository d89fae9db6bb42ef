package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/test/harness"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// readmeBlock is the first sh code block after the heading in the README.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("the README has no %q", heading)
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	if start < 0 {
		t.Fatalf("no sh block after %q", heading)
	}
	text = text[start+len("```sh\n"):]
	end := strings.Index(text, "\n```")
	if end < 0 {
		t.Fatalf("the sh block after %q is not closed", heading)
	}
	return text[:end]
}

// TestReadmeCurlWalk runs the README's curl walk-through as it is written,
// with bash, curl and jq, on a hub and an agent of edge-1 as the
// walk-through starts them: the deployment it creates and approves must
// reach the cluster and turn to success, which the block's last lines wait
// for.
func TestReadmeCurlWalk(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the README's curl walk needs %s: %v (.ci/run installs it)", tool, err)
			}
			t.Skipf("SKIPPED LOUDLY: the README's curl walk needs %s, which is not installed", tool)
		}
	}
	block := readmeBlock(t, "## The same with curl")
	if !strings.Contains(block, "<printed password>") {
		t.Fatal("the curl walk no longer logs in with the printed password")
	}
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "node-1", 4, 16, 100, 0, "", true, "10.0.0.21")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	m := printedPassword.FindStringSubmatch(h.logs())
	if m == nil {
		t.Fatalf("no generated password in the output:\n%s", h.logs())
	}
	startAgent(t, h, api, "edge-1", bootstrap)
	root := h.login("admin", m[1])
	eventually(t, 30*time.Second, "edge-1 ready", func() bool {
		var cls []struct {
			ClusterName string `json:"clusterName"`
			IsReady     bool   `json:"isReady"`
		}
		json.Unmarshal(h.must(200, "GET", "/v1/cluster", root, nil).Data, &cls)
		return len(cls) == 1 && cls[0].ClusterName == "edge-1" && cls[0].IsReady
	})

	script := strings.Replace(block, "<printed password>", m[1], 1)
	script = strings.Replace(script, "HUB=http://localhost:8080", "HUB="+h.url, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()

	// The pods of the deployment, once the agent has made it (no kubelet
	// runs here); the script's last loop waits for the success they bring.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the README's curl walk printed:\n%s", out.String())
		}
	})
	ns := ""
	eventually(t, 60*time.Second, "the walk's Deployment web in edge-1", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the README's curl walk ended (%v) before its Deployment reached edge-1", err)
		default:
		}
		if refused.MatchString(out.String()) {
			t.Fatal("a step of the README's curl walk was refused")
		}
		nss, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, n := range nss.Items {
			if strings.HasPrefix(n.Name, "ns") && deploymentImage(cs, n.Name, "web") == "registry.example.com/web:1.0" {
				ns = n.Name
			}
		}
		return ns != ""
	})
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, cs, ns, p, "web", true, "")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the README's curl walk failed: %v\n%s", err, out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the README's curl walk did not end:\n%s", out.String())
	}
	got := out.String()
	// The role after the business's approval, and the deployment's end.
	if !regexp.MustCompile(`(^|[}\n])3\n`).MatchString(got) || !strings.Contains(got, `"status": 5`) || !strings.Contains(got, "edge-1: 2/2 pods running") {
		t.Fatalf("the walk's output lacks role 3 or the deployment's success:\n%s", got)
	}
	if refused.MatchString(got) {
		t.Fatalf("a step of the walk was refused:\n%s", got)
	}
}

// refused: an envelope of a refusal, compact or indented.
var refused = regexp.MustCompile(`"code": ?[45][0-9][0-9]`)

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
