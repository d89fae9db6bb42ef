package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionFlags: each binary says which build it is.
func TestVersionFlags(t *testing.T) {
	for name, bin := range map[string]string{"hub": hubBin, "agent": agentBin, "otectl": otectlBin} {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), name+" ") {
			t.Errorf("%s --version: %q, %v", name, out, err)
		}
	}
}

// TestLogFormat: --log-format json makes every line of the hub's log a
// JSON object; a format it does not know is refused before it starts.
func TestLogFormat(t *testing.T) {
	out, err := exec.Command(hubBin, "--log-format", "yaml").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--log-format must be text or json") {
		t.Fatalf("hub --log-format yaml: %v %s", err, out)
	}
	out, err = exec.Command(agentBin, "--log-format", "yaml").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--log-format must be text or json") {
		t.Fatalf("agent --log-format yaml: %v %s", err, out)
	}
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--registry-listen", "off", "--log-format", "json")
	h.login("admin", "Root-pass1")
	h.stop()
	// The one-time banner of the first administrator is written apart
	// from the log, indented, so that a generated password never becomes
	// a log record: every other line is a JSON record.
	var lines []string
	for _, l := range strings.Split(h.logs(), "\n") {
		if l != "" && !strings.HasPrefix(l, "  ") {
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Fatalf("a line of the hub's log is no JSON record: %q", l)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("%d log lines", len(lines))
	}
}

// TestDemo runs make demo's program to the end of its walk: the deployment
// it makes must turn to success in its kube-apiserver.
func TestDemo(t *testing.T) {
	cmd := exec.Command("go", "run", "./test/demo", "-exit", "-listen", freePort(t), "-bin", filepath.Dir(hubBin))
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"cluster demo-edge joined and is ready", "status 0, waiting for audit", "marks its 2 pods running", "status 5 (success) demo-edge: 2/2 pods running", "bin/otectl deploy list"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}
