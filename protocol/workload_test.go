package protocol

import (
	"encoding/json"
	"os"
	"testing"
)

func TestPodSecurityLabels(t *testing.T) {
	labels := PodSecurityLabels(PodSecurityBaseline)
	if len(labels) != 6 {
		t.Fatalf("labels %v", labels)
	}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		if labels["pod-security.kubernetes.io/"+mode] != "baseline" || labels["pod-security.kubernetes.io/"+mode+"-version"] != "latest" {
			t.Fatalf("labels %v lack %s", labels, mode)
		}
	}
	for level, valid := range map[string]bool{"restricted": true, "baseline": true, "privileged": true, "": false, "Restricted": false, "root": false} {
		if ValidPodSecurity(level) != valid {
			t.Errorf("ValidPodSecurity(%q) = %v", level, !valid)
		}
	}
}

// The golden message of the 2026-12-01 addition decodes with the level
// in the workload and the labels in the namespace.
func TestPodSecurityGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/desired-podsecurity.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var ns NamespaceSpec
	var ws WorkloadSpec
	if err := json.Unmarshal(m.Desired.Items[0].Spec, &ns); err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != PodSecurityRestricted {
		t.Fatalf("namespace spec %+v %v", ns, err)
	}
	if err := json.Unmarshal(m.Desired.Items[1].Spec, &ws); err != nil || ws.PodSecurity != PodSecurityRestricted || ws.Container == nil {
		t.Fatalf("workload spec %+v %v", ws, err)
	}
}
