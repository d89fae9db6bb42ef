package charts

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// install runs helm install (client-only dry run: everything up to
// talking to a cluster, values validation included) with the Helm SDK.
func install(t *testing.T, dir string, vals map[string]any) error {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &action.Configuration{Capabilities: chartutil.DefaultCapabilities}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.DryRun, in.ClientOnly = "r1", "ote", true, true
	_, err = in.RunWithContext(context.Background(), ch, vals)
	return err
}

// TestValuesSchema: both charts carry values.schema.json; helm install
// refuses a value of the wrong type, out of range or misspelled, naming
// it, and takes the defaults and the README's values.
func TestValuesSchema(t *testing.T) {
	agentOK := map[string]any{"clusterName": "edge-1", "hubUrl": "https://hub.example.com", "bootstrapToken": "t0123456789abcdef"}
	with := func(base map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range base {
			out[a] = b
		}
		out[k] = v
		return out
	}
	if err := install(t, "hub", nil); err != nil {
		t.Fatalf("the hub chart's defaults: %v", err)
	}
	if err := install(t, "agent", agentOK); err != nil {
		t.Fatalf("the agent chart with its required values: %v", err)
	}
	for _, c := range []struct {
		chart string
		vals  map[string]any
		want  []string // in the error
	}{
		{"hub", map[string]any{"replicas": "two"}, []string{"replicas", "integer"}},
		{"hub", map[string]any{"replicas": 0}, []string{"replicas", "minimum"}},
		{"hub", map[string]any{"heartbeatInterval": 10}, []string{"heartbeatInterval", "string"}},
		{"hub", map[string]any{"heartbeatInterval": "ten seconds"}, []string{"heartbeatInterval"}},
		{"hub", map[string]any{"service": map[string]any{"port": 70000}}, []string{"port", "maximum"}},
		{"hub", map[string]any{"features": map[string]any{"enableAlert": "yes"}}, []string{"enableAlert", "boolean"}},
		{"hub", map[string]any{"replica": 2}, []string{"replica"}},
		{"hub", map[string]any{"logLevel": "verbose"}, []string{"logLevel"}},
		{"hub", map[string]any{"database": map[string]any{"url": "mysql://x"}}, []string{"database", "url"}},
		{"agent", with(agentOK, "clusterName", "Edge_1"), []string{"clusterName"}},
		{"agent", with(agentOK, "metrics", map[string]any{"port": "9090"}), []string{"port", "integer"}},
		{"agent", with(agentOK, "hubURL", "https://x"), []string{"hubURL"}},
	} {
		err := install(t, c.chart, c.vals)
		if err == nil {
			t.Errorf("%s %v: installed", c.chart, c.vals)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: the error does not say %q: %v", c.chart, c.vals, w, err)
			}
		}
	}
}
