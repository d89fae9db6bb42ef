package e2e

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// junitReport is what the conformance suite writes to junit.xml.
type junitReport struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Skipped  int `xml:"skipped,attr"`
	Disabled int `xml:"disabled,attr"`
	Suites   []struct {
		Cases []struct {
			Name   string `xml:"name,attr"`
			Status string `xml:"status,attr"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func (r junitReport) failed() []string {
	var out []string
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			if c.Status == "failure" || c.Status == "error" {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// runConformance runs the OCI distribution-spec conformance suite against
// reg with the registry account user, with extra settings in env.
func runConformance(t *testing.T, bin, reg, user, pw string, env ...string) (junitReport, string, error) {
	t.Helper()
	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = results
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+reg, "OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_USERNAME="+user, "OCI_PASSWORD="+pw,
		"OCI_RESULTS_DIR="+results, "OCI_LOG=error")
	cmd.Env = append(cmd.Env, env...)
	out, runErr := cmd.CombinedOutput()
	raw, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit.xml (%v):\n%s", runErr, out)
	}
	var rep junitReport
	if err := xml.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, string(out), runErr
}

// knownGap says whether a failed conformance test is one of the features
// that distribution v3.1.2 does not implement (sha512 digests, the
// referrers API and subject responses) or refuses by policy (layers with
// foreign URLs).
func knownGap(name string) bool {
	for _, s := range []string{"/sha512", "referrers", "subject", "non-distributable"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// TestOCIConformance runs the OCI distribution-spec conformance suite
// against the embedded registry with a registry account and hub-issued
// tokens: the pull, push, content discovery and content management
// workflows must pass, and in the suite's full default run every failure
// must be a known gap of the registry.
func TestOCIConformance(t *testing.T) {
	build := exec.Command("bash", "../conformance/build.sh")
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("building the conformance suite: %v", err)
	}
	bin := strings.TrimSpace(string(out))

	const rootPass = "Root-pass1"
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", rootPass)
	root := h.login("admin", rootPass)
	h.must(200, "POST", "/v1/repository/user", root, map[string]string{"user": "conformance", "password": "Conform-1x"})
	h.must(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "conformance", "public": false})

	// The four workflows, without the features distribution lacks.
	core, output, err := runConformance(t, bin, h.registry, "conformance", "Conform-1x",
		"OCI_DATA_SHA512=false", "OCI_API_REFERRER=false", "OCI_DATA_SUBJECT=false",
		"OCI_DATA_SUBJECT_MISSING=false", "OCI_DATA_SUBJECT_LIST=false", "OCI_DATA_NONDISTRIBUTABLE=false")
	if err != nil || core.Failures != 0 || core.Tests < 400 {
		t.Fatalf("conformance (pull, push, discovery, management): %d tests, %d failed %v (%v)\n%s",
			core.Tests, core.Failures, core.failed(), err, tailOf(output, 60))
	}
	t.Logf("OCI conformance, pull/push/content discovery/content management: %d tests, %d passed, %d failed, %d skipped, %d disabled",
		core.Tests, core.Tests-core.Failures-core.Skipped-core.Disabled, core.Failures, core.Skipped, core.Disabled)

	// The suite's defaults (distribution-spec 1.1 with every data set).
	full, _, _ := runConformance(t, bin, h.registry, "conformance", "Conform-1x")
	var unexpected []string
	for _, name := range full.failed() {
		if !knownGap(name) {
			unexpected = append(unexpected, name)
		}
	}
	if len(unexpected) > 0 {
		t.Fatalf("conformance failures beyond the registry's known gaps: %v", unexpected)
	}
	t.Logf("OCI conformance, suite defaults: %d tests, %d passed, %d failed (%s), %d skipped, %d disabled",
		full.Tests, full.Tests-full.Failures-full.Skipped-full.Disabled, full.Failures,
		fmt.Sprintf("%d failing test cases, all sha512, referrers, subject or non-distributable", len(full.failed())), full.Skipped, full.Disabled)

	// Anonymous and wrong credentials are refused by the same suite.
	anon, _, _ := runConformance(t, bin, h.registry, "", "", "OCI_DATA_SHA512=false", "OCI_API_REFERRER=false")
	if anon.Failures == 0 {
		t.Fatal("the conformance suite passed anonymously against a private project")
	}
}
