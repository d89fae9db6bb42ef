package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ote-stack/ote/test/harness"
)

// parseMetrics reads a /metrics page with Prometheus's own text parser.
func parseMetrics(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// scrape is parseMetrics for a page that must be there.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := parseMetrics(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// value is the sample of family name whose labels include want (nil: any
// sample); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsWorthScraping reads both /metrics as Prometheus would, through
// a deployment's life: every documented series exists, its value follows
// what happened, and no hub series carries a cluster's, business's or
// user's name.
func TestMetricsWorthScraping(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "node-m1", 4, 16, 50, 0, "", true, "10.0.2.11")
	start := time.Now()
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	agent := startAgent(t, h, api, "edge-m", bootstrap)
	eventually(t, 30*time.Second, "edge-m ready", func() bool { return h.clusterReady(root, "edge-m") })
	hubURL, agentURL := h.url+"/metrics", "http://"+agent.metrics+"/metrics"

	eventually(t, 30*time.Second, "the hub counts one ready cluster and one session", func() bool {
		f := scrape(t, hubURL)
		ready, _ := value(f, "ote_hub_clusters", map[string]string{"state": "ready"})
		sessions, _ := value(f, "ote_hub_tunnel_sessions", nil)
		up, _ := value(f, "ote_hub_platform_stats_up", nil)
		return ready == 1 && sessions == 1 && up == 1
	})
	h.must(401, "POST", "/v1/authorization", "", map[string]string{"user": "admin", "password": "wrong-Pass1"})
	h.must(401, "GET", "/v1/cluster", "not-a-token", nil)

	ns := h.approveBusiness(root, "acme")
	admin := h.login("acme", "Pw-acme9")
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-m"}, "clusterLabel": "metrics"})
	h.must(200, "POST", "/v1/app", admin, containerApp("1.0"))
	var d deployView
	if err := json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "metrics", "comment": "m"}).Data, &d); err != nil {
		t.Fatal(err)
	}
	// The figures are read from the database at most every 5 s.
	eventually(t, 30*time.Second, "one audit request and one deployment pending", func() bool {
		f := scrape(t, hubURL)
		audits, _ := value(f, "ote_hub_audit_requests_pending", nil)
		pending, _ := value(f, "ote_hub_deployments", map[string]string{"status": "pending"})
		return audits == 1 && pending == 1
	})
	h.audit(admin, d.ID, 1)
	eventually(t, 30*time.Second, "the workload in edge-m", func() bool { return deploymentImage(cs, ns, "web") == "registry.example.com/web:1.0" })
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, cs, ns, p, "web", true, "")
	}
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last figures: %s", last)
		}
	}()
	eventually(t, 30*time.Second, "the deployment counted as a success, nothing pending or unacknowledged", func() bool {
		f := scrape(t, hubURL)
		ok, _ := value(f, "ote_hub_deployments", map[string]string{"status": "success"})
		pending, _ := value(f, "ote_hub_audit_requests_pending", nil)
		unacked, _ := value(f, "ote_hub_desired_unacknowledged", nil)
		oldest, _ := value(f, "ote_hub_desired_unacknowledged_oldest_seconds", nil)
		last = fmt.Sprintf("success %v, audits pending %v, unacknowledged %v, oldest %vs", ok, pending, unacked, oldest)
		return ok == 1 && pending == 0 && unacked == 0 && oldest == 0
	})

	f := scrape(t, hubURL)
	for name, labels := range map[string]map[string]string{
		"ote_hub_auth_failures_total":           {"reason": "wrong_password"},
		"ote_hub_tunnel_bytes_total":            {"kind": "desired", "direction": "out"},
		"ote_hub_tunnel_messages_total":         {"kind": "status", "direction": "in"},
		"ote_hub_http_requests_total":           {"route": "/v1/deploy", "method": "POST"},
		"ote_hub_http_request_duration_seconds": {"route": "/v1/deploy"},
	} {
		if v, ok := value(f, name, labels); !ok || v < 1 {
			t.Errorf("%s%v = %v (present %v), want at least 1", name, labels, v, ok)
		}
	}
	if v, _ := value(f, "ote_hub_auth_failures_total", map[string]string{"reason": "invalid_token"}); v < 1 {
		t.Errorf(`ote_hub_auth_failures_total{reason="invalid_token"} %v`, v)
	}
	for _, name := range []string{"ote_hub_clusters", "ote_hub_deployments", "ote_hub_desired_revision",
		"ote_hub_registry_requests_total", "ote_hub_registry_request_duration_seconds"} {
		if f[name] == nil {
			t.Errorf("the hub has no %s", name)
		}
	}
	// Bounded label sets: no names of clusters, businesses or users.
	for name, fam := range f {
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				switch l.GetName() {
				case "cluster", "user", "business", "namespace":
					t.Errorf("%s has a %s label", name, l.GetName())
				}
				for _, bad := range []string{"edge-m", "acme", "admin", ns} {
					if l.GetValue() == bad {
						t.Errorf("%s carries %q in label %s", name, bad, l.GetName())
					}
				}
			}
		}
	}

	a := scrape(t, agentURL)
	checks := map[string]func(float64) bool{
		"ote_agent_connected":                   func(v float64) bool { return v == 1 },
		"ote_agent_nodes":                       func(v float64) bool { return v == 1 },
		"ote_agent_reconnects_total":            func(v float64) bool { return v >= 0 },
		"ote_agent_applies_waiting":             func(v float64) bool { return v == 0 },
		"ote_agent_applies_running":             func(v float64) bool { return v == 0 },
		"ote_agent_last_sync_timestamp_seconds": func(v float64) bool { return v >= float64(start.Unix()) },
	}
	for name, ok := range checks {
		if v, present := value(a, name, nil); !present || !ok(v) {
			t.Errorf("agent %s = %v (present %v)", name, v, present)
		}
	}
	if v, _ := value(a, "ote_agent_apply_duration_seconds", map[string]string{"kind": "workload"}); v < 1 {
		t.Errorf(`ote_agent_apply_duration_seconds{kind="workload"} has %v samples`, v)
	}
	if v, _ := value(a, "ote_agent_items_total", map[string]string{"kind": "workload", "state": "applied"}); v < 1 {
		t.Errorf(`ote_agent_items_total{kind="workload",state="applied"} %v`, v)
	}
	var names []string
	for n := range f {
		if strings.HasPrefix(n, "ote_") {
			names = append(names, n)
		}
	}
	for n := range a {
		if strings.HasPrefix(n, "ote_") {
			names = append(names, n)
		}
	}
	t.Logf("%d ote_ series families: %s", len(names), strings.Join(names, " "))
}
