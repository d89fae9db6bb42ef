package charts

import (
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	sigsyaml "sigs.k8s.io/yaml"
)

// hubMetrics are the series the hub and agent serve (README, "Metrics";
// test/e2e/metrics_test.go reads them from real binaries): the rules and
// the dashboard may use no other.
var hubMetrics = []string{
	"ote_hub_tunnel_sessions", "ote_hub_clusters", "ote_hub_desired_unacknowledged", "ote_hub_desired_unacknowledged_oldest_seconds",
	"ote_hub_deployments", "ote_hub_audit_requests_pending", "ote_hub_platform_stats_up", "ote_hub_tunnel_messages_total",
	"ote_hub_tunnel_bytes_total", "ote_hub_tunnel_sessions_closed_total", "ote_hub_desired_revision", "ote_hub_auth_failures_total",
	"ote_hub_http_requests_total", "ote_hub_http_request_duration_seconds_bucket", "ote_hub_registry_requests_total",
	"ote_agent_apply_duration_seconds_bucket", "ote_agent_connected", "ote_agent_items_total",
}

// selectors lists the metric names an expression reads.
func selectors(t *testing.T, p parser.Parser, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q is not PromQL: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// TestAlertRules checks charts/hub/alerts/rules.yaml as promtool check
// rules does (Prometheus's own rule parser and validation), and that the
// alerts the operators asked for are there, on series the hub serves.
func TestAlertRules(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile("hub/alerts/rules.yaml", false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	alerts := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r
			for _, name := range selectors(t, p, r.Expr) {
				if !slices.Contains(hubMetrics, name) {
					t.Errorf("alert %s reads %s, which the hub does not serve", r.Alert, name)
				}
			}
		}
	}
	for name, wantFor := range map[string]string{"OTEClusterNotReady": "5m", "OTEDeploymentFailed": "10m", "OTEDesiredStateUnacknowledged": "1m", "OTEHubNotReady": "5m"} {
		r, ok := alerts[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if r.For.String() != wantFor {
			t.Errorf("%s: for %s, want %s", name, r.For, wantFor)
		}
	}
}

// TestDashboard: the Grafana dashboard is JSON whose every panel queries
// series the hub serves, with PromQL that parses.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("hub/dashboards/ote-hub.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	titles := ""
	for _, panel := range d.Panels {
		titles += panel.Title + "|"
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, tg := range panel.Targets {
			for _, name := range selectors(t, p, tg.Expr) {
				if !slices.Contains(hubMetrics, name) {
					t.Errorf("panel %q reads %s, which the hub does not serve", panel.Title, name)
				}
			}
		}
	}
	for _, want := range []string{"Clusters", "Agents connected", "Fan-out lag", "Deployments by status", "API latency"} {
		if !strings.Contains(titles, want) {
			t.Errorf("no panel %q in %s", want, titles)
		}
	}
}

// TestMonitoringObjects: the chart's optional ServiceMonitor,
// PrometheusRule (with the rules file as its spec, and enableAlert on) and
// dashboard ConfigMap, and the agent chart's PodMonitor.
func TestMonitoringObjects(t *testing.T) {
	off, err := render(t, "hub", "ote", nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(off); strings.Contains(k, "ServiceMonitor") || strings.Contains(k, "PrometheusRule") || strings.Contains(manifests(off), `"name":"OTE_ENABLE_ALERT","value":"true"`) {
		t.Fatalf("monitoring objects or alerting without being asked: %s", k)
	}
	on, err := render(t, "hub", "ote", map[string]any{"monitoring": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"prometheusRule": map[string]any{"enabled": true},
		"dashboard":      map[string]any{"enabled": true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(manifests(on), `"name":"OTE_ENABLE_ALERT","value":"true"`) {
		t.Error("with the PrometheusRule the hub does not say alerting is configured")
	}
	rulesFile, _ := os.ReadFile("hub/alerts/rules.yaml")
	var wantSpec map[string]any
	if err := sigsyaml.Unmarshal(rulesFile, &wantSpec); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range on {
		seen[o.GetKind()] = true
		switch o.GetKind() {
		case "ServiceMonitor":
			if o.GetLabels()["release"] != "prometheus" {
				t.Errorf("ServiceMonitor labels %v", o.GetLabels())
			}
			ep, _, _ := unstructuredSlice(o.Object, "spec", "endpoints")
			if len(ep) != 1 || ep[0].(map[string]any)["port"] != "http" {
				t.Errorf("ServiceMonitor endpoints %v", ep)
			}
		case "PrometheusRule":
			got, _ := json.Marshal(o.Object["spec"])
			want, _ := json.Marshal(wantSpec)
			if string(got) != string(want) {
				t.Errorf("the PrometheusRule's spec is not alerts/rules.yaml:\n%s\n%s", got, want)
			}
		case "ConfigMap":
			data, _ := o.Object["data"].(map[string]any)
			var dash map[string]any
			if err := json.Unmarshal([]byte(data["ote-hub.json"].(string)), &dash); err != nil || dash["uid"] != "ote-hub" {
				t.Errorf("the dashboard ConfigMap: %v", err)
			}
		}
	}
	for _, k := range []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"} {
		if !seen[k] {
			t.Errorf("no %s with monitoring enabled", k)
		}
	}
	agentVals := map[string]any{"clusterName": "edge-1", "hubUrl": "https://hub.example.com", "bootstrapToken": "t0123456789abcdef",
		"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}}
	agent, err := render(t, "agent", "ote-system", agentVals)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(kinds(agent), "PodMonitor") || !strings.Contains(manifests(agent), `"port":"metrics"`) {
		t.Errorf("the agent chart makes no PodMonitor: %s", kinds(agent))
	}
}

func unstructuredSlice(obj map[string]any, path ...string) ([]any, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[p]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}
