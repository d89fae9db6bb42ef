package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ote-stack/ote/test/harness"
)

var otectlBin string

// ctl runs otectl as one user: its own configuration file, stdin for
// passwords.
type ctl struct {
	t       *testing.T
	config  string
	hub     string
	secrets *[]string // never to be seen in otectl's output
}

type ctlResult struct {
	stdout, stderr string
	code           int
}

func newCtl(t *testing.T, hub string, secrets *[]string) *ctl {
	return &ctl{t: t, config: filepath.Join(t.TempDir(), "otectl.json"), hub: hub, secrets: secrets}
}

func (c *ctl) run(stdin string, args ...string) ctlResult {
	c.t.Helper()
	return c.runCtx(context.Background(), stdin, args...)
}

func (c *ctl) runCtx(ctx context.Context, stdin string, args ...string) ctlResult {
	c.t.Helper()
	cmd := exec.CommandContext(ctx, otectlBin, args...)
	cmd.Env = append(os.Environ(), "OTECTL_CONFIG="+c.config, "OTECTL_HUB="+c.hub)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := ctlResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("otectl %v: %v", args, err)
	}
	both := r.stdout + r.stderr
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(both, bad) {
			c.t.Fatalf("otectl %v printed a stack trace:\n%s", args, both)
		}
	}
	for _, s := range *c.secrets {
		if strings.Contains(both, s) {
			c.t.Fatalf("otectl %v printed a secret:\n%s", args, both)
		}
	}
	if b, err := os.ReadFile(c.config); err == nil {
		var cfg struct{ Token string }
		if json.Unmarshal(b, &cfg) == nil && cfg.Token != "" && strings.Contains(both, cfg.Token) {
			c.t.Fatalf("otectl %v printed the token", args)
		}
	}
	return r
}

// ok runs otectl and fails the test unless it exits 0.
func (c *ctl) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("otectl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs otectl and fails the test unless it exits code with a
// message that contains want.
func (c *ctl) fails(code int, want string, stdin string, args ...string) {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		c.t.Fatalf("otectl %s: exit %d (want %d), stderr %q (want %q)", strings.Join(args, " "), r.code, code, r.stderr, want)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		c.t.Errorf("otectl %s: the error takes more than one line:\n%s", strings.Join(args, " "), r.stderr)
	}
}

func (c *ctl) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("otectl %v -o json: %v\n%s", args, err, out)
	}
}

// TestOtectlWalkthrough is the README's walk-through with otectl: the
// administrator approves a general administrator and its business, a
// developer of the business creates a container app and deploys it to a
// labelled cluster, the business administrator approves the request and
// watches it turn to success. Then the failures a script must be able to
// tell apart: a failed deployment, a refused request, a bad file, an
// unreachable hub, an expired token.
func TestOtectlWalkthrough(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "node-a1", 8, 32, 100, 0, "", true, "10.0.0.11")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	startAgent(t, h, api, "edge-a", bootstrap)
	rootTok := h.login("admin", "Root-pass1")
	secrets := []string{"Root-pass1", "Alice-pass1", "Dev-pass1", rootTok}
	root, alice, dev := newCtl(t, h.url, &secrets), newCtl(t, h.url, &secrets), newCtl(t, h.url, &secrets)

	root.ok("Root-pass1\n", "login", "--user", "admin")
	if st, err := os.Stat(root.config); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the configuration file: %v, mode %v; want 0600", err, st.Mode())
	}
	if out := root.ok("", "whoami"); !strings.Contains(out, "system-admin") {
		t.Fatalf("whoami:\n%s", out)
	}

	alice.ok("Alice-pass1\n", "user", "register", "--user", "alice", "--real-name", "Alice", "--phone", "13800000000", "--admin")
	var users []struct {
		ID     uint64 `json:"id"`
		User   string `json:"user"`
		Status int    `json:"status"`
	}
	root.json(&users, "user", "list", "--order-by", "user_name")
	var aliceID uint64
	for _, u := range users {
		if u.User == "alice" && u.Status == 0 {
			aliceID = u.ID
		}
	}
	if aliceID == 0 {
		t.Fatalf("alice is not pending in %+v", users)
	}
	root.ok("", "user", "approve", fmt.Sprint(aliceID))
	alice.ok("Alice-pass1\n", "login", "--user", "alice")
	var biz struct{ ID uint64 }
	alice.json(&biz, "business", "create", "--name", "acme", "--introduce", "vision at the edge", "--objective", "inference", "--scale", "20 clusters")
	root.ok("", "business", "approve", fmt.Sprint(biz.ID), "--comment", "welcome")
	if out := alice.ok("", "whoami"); !strings.Contains(out, "business-admin") {
		t.Fatalf("alice after the approval:\n%s", out)
	}
	alice.ok("Dev-pass1\n", "user", "create", "--user", "dev", "--real-name", "Dev", "--phone", "13800000001")
	dev.ok("Dev-pass1\n", "login", "--user", "dev")

	eventually(t, 30*time.Second, "edge-a ready in otectl cluster list", func() bool {
		var cls []struct {
			ClusterName string `json:"clusterName"`
			IsReady     bool   `json:"isReady"`
		}
		root.json(&cls, "cluster", "list")
		return len(cls) == 1 && cls[0].ClusterName == "edge-a" && cls[0].IsReady
	})
	root.ok("", "cluster", "label", "add", "east", "edge-a")
	if out := root.ok("", "node", "list", "--cluster", "edge-a"); !strings.Contains(out, "node-a1") || !strings.Contains(out, "32.0GiB") {
		t.Fatalf("node list:\n%s", out)
	}
	var yml []map[string]any
	if err := yaml.Unmarshal([]byte(root.ok("", "cluster", "list", "-o", "yaml")), &yml); err != nil || len(yml) != 1 || yml[0]["clusterName"] != "edge-a" {
		t.Fatalf("cluster list -o yaml: %v %v", err, yml)
	}

	dev.ok("", "app", "create", "--name", "web", "--version", "1.0", "--image", "registry.example.com/web:1.0",
		"--port", "http=80:8080/TCP", "--replicas", "2", "--env", "MODE=edge", "--cpu", "10:100", "--memory", "64:128")
	var d struct {
		ID     uint64 `json:"id"`
		Status int    `json:"status"`
	}
	dev.json(&d, "deploy", "create", "--name", "web", "--app", "web", "--version", "1.0", "--cluster", "east", "--comment", "first")
	if d.Status != 0 {
		t.Fatalf("a new deployment has status %d, want 0 (pending audit)", d.Status)
	}
	var audits []struct {
		ID       uint64 `json:"id"`
		DeployID uint64 `json:"deployId"`
		Status   int    `json:"status"`
	}
	alice.json(&audits, "audit", "list")
	if len(audits) != 1 || audits[0].DeployID != d.ID || audits[0].Status != 0 {
		t.Fatalf("audit list: %+v", audits)
	}

	// The approval, watched: otectl follows the deployment while the
	// pods come up (made by hand: no kubelet runs here).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watched := make(chan ctlResult, 1)
	go func() {
		watched <- alice.runCtx(ctx, "", "audit", "approve", fmt.Sprint(audits[0].ID), "--watch", "--timeout", "90s", "--interval", "200ms")
	}()
	ns := fmt.Sprintf("ns%d", biz.ID)
	eventually(t, 30*time.Second, "the Deployment and its Service in edge-a", func() bool {
		_, err := cs.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		return deploymentImage(cs, ns, "web") == "registry.example.com/web:1.0" && err == nil
	})
	eventually(t, 30*time.Second, "deploying, no pods yet", func() bool {
		return h.deploy(rootTok, d.ID).Status == 4
	})
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, cs, ns, p, "web", true, "")
	}
	var w ctlResult
	select {
	case w = <-watched:
	case <-time.After(100 * time.Second):
		t.Fatal("otectl audit approve --watch did not end")
	}
	if w.code != 0 || !strings.Contains(w.stdout, "deploying") || !strings.Contains(w.stdout, "success") || !strings.Contains(w.stdout, "edge-a: 2/2 pods running") {
		t.Fatalf("audit approve --watch: exit %d\n%s%s", w.code, w.stdout, w.stderr)
	}
	// Version 1.1 from a YAML file, an upgrade to it and a rollback to
	// 1.0, each approved and watched to success: the cluster's Deployment
	// follows, and the history lists both versions.
	spec := filepath.Join(t.TempDir(), "web-1.1.yaml")
	os.WriteFile(spec, []byte(`appName: web
version: "1.1"
image: registry.example.com/web:1.1
deployType: deployment
replicas: 2
port:
  - {name: http, servicePort: 80, containerPort: 8080, protocol: TCP}
env:
  - {name: MODE, value: edge}
`), 0o600)
	dev.ok("", "app", "create", "-f", spec)
	change := func(want string, args ...string) {
		t.Helper()
		dev.ok("", append([]string{"deploy"}, args...)...)
		var all, pending []struct {
			ID       uint64 `json:"id"`
			DeployID uint64 `json:"deployId"`
			Status   int    `json:"status"`
		}
		alice.json(&all, "audit", "list")
		for _, a := range all {
			if a.Status == 0 {
				pending = append(pending, a)
			}
		}
		if len(pending) != 1 || pending[0].DeployID != d.ID {
			t.Fatalf("audit list after deploy %v: %+v", args, all)
		}
		if r := alice.runCtx(ctx, "", "audit", "approve", fmt.Sprint(pending[0].ID), "--watch", "--timeout", "60s", "--interval", "200ms"); r.code != 0 || !strings.Contains(r.stdout, "success") {
			t.Fatalf("approve of deploy %v --watch: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if img := deploymentImage(cs, ns, "web"); img != want {
			t.Fatalf("after deploy %v the cluster runs %q, want %q", args, img, want)
		}
	}
	change("registry.example.com/web:1.1", "upgrade", fmt.Sprint(d.ID), "--version", "1.1", "--comment", "faster")
	change("registry.example.com/web:1.0", "rollback", fmt.Sprint(d.ID), "--version", "1.0")
	if out := dev.ok("", "deploy", "history", fmt.Sprint(d.ID)); !strings.Contains(out, "1.0") || !strings.Contains(out, "1.1") {
		t.Fatalf("deploy history:\n%s", out)
	}

	// A failing workload: the watch ends with exit 5 and the hub's state.
	for _, p := range []string{"web-1", "web-2"} {
		setPod(t, cs, ns, p, false, "CrashLoopBackOff")
	}
	eventually(t, 30*time.Second, "status failed", func() bool { return h.deploy(rootTok, d.ID).Status == 7 })
	dev.fails(5, "failed", "", "deploy", "watch", fmt.Sprint(d.ID), "--timeout", "30s")

	// A Helm chart, pushed as a directory (packaged by otectl) and as an
	// archive; an external registry, whose password is never shown; a
	// project of the image registry.
	chartDir := t.TempDir()
	for name, body := range map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
		"values.yaml":       "greeting: hi\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(chartDir, name)), 0o755)
		os.WriteFile(filepath.Join(chartDir, name), []byte(body), 0o644)
	}
	dev.ok("", "app", "chart", "push", chartDir, "--name", "hello", "--version", "1.0")
	archive := filepath.Join(t.TempDir(), "hello.tgz")
	os.WriteFile(archive, chartArchive(t, "0.2.0", "hello"), 0o644)
	dev.ok("", "app", "chart", "push", archive, "--name", "hello", "--version", "1.1")
	var apps []struct {
		AppName, Version, Kind string
	}
	dev.json(&apps, "app", "list", "--name", "hello", "--name-mode", "strict")
	if len(apps) != 2 || apps[0].Kind != "chart" || apps[1].Kind != "chart" {
		t.Fatalf("app list after two chart pushes: %+v", apps)
	}
	secrets = append(secrets, "Partner-pass1")
	dev.ok("Partner-pass1\n", "repo", "create", "partner", "--address", "registry.partner.example", "--user", "bot")
	if out := dev.ok("", "repo", "list"); !strings.Contains(out, "registry.partner.example") {
		t.Fatalf("repo list:\n%s", out)
	}
	dev.ok("", "project", "create", "acme-models")
	if out := dev.ok("", "project", "list"); !strings.Contains(out, "acme-models") {
		t.Fatalf("project list:\n%s", out)
	}

	// What scripts must tell apart.
	dev.fails(1, "403", "", "user", "list")
	dev.fails(1, "version", "", "app", "create", "--name", "web", "--version", "one", "--image", "registry.example.com/web:1.0", "--port", "8080")
	bad := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(bad, []byte("appName: [web\n"), 0o600)
	dev.fails(2, "app.yaml", "", "app", "create", "-f", bad)
	dev.fails(2, "--port", "", "app", "create", "--name", "x", "--version", "1.0", "--image", "r/x:1", "--port", "eighty")
	other := newCtl(t, "http://127.0.0.1:1", &secrets)
	other.fails(4, "cannot reach the hub", "Dev-pass1\n", "login", "--user", "dev")
	dev.fails(3, "401", "wrong-pass\n", "login", "--user", "dev")
	dev.fails(2, "-o", "", "whoami", "-o", "xml")

	// The token: refreshed when it expires soon, refused when expired.
	cfg := readCtlConfig(t, dev.config)
	cfg["expireTime"] = float64(time.Now().Add(time.Minute).Unix())
	writeCtlConfig(t, dev.config, cfg)
	dev.ok("", "whoami")
	after := readCtlConfig(t, dev.config)
	if after["token"] == cfg["token"] || after["expireTime"].(float64) < float64(time.Now().Add(50*time.Minute).Unix()) {
		t.Fatalf("a token that expires in a minute was not refreshed: %v", after["expireTime"])
	}
	after["expireTime"] = float64(time.Now().Add(-time.Minute).Unix())
	writeCtlConfig(t, dev.config, after)
	dev.fails(3, "expired", "", "whoami")
	root.ok("", "logout")
	root.fails(3, "not logged in", "", "whoami")

	if out := dev.ok("", "completion", "bash"); !strings.Contains(out, "otectl") {
		t.Fatal("no bash completion")
	}
	if out := dev.ok("", "--version"); !strings.HasPrefix(out, "otectl ") {
		t.Fatalf("--version: %q", out)
	}
}

func readCtlConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeCtlConfig(t *testing.T, path string, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
