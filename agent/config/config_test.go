package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func parse(env map[string]string, args ...string) (*Options, error) {
	o := Default()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.Bind(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.Validate()
}

func TestOptions(t *testing.T) {
	o, err := parse(map[string]string{"OTE_HUB_URL": "https://hub:8443", "OTE_CLUSTER_NAME": "edge-1"}, "--metrics-listen", ":9191")
	if err != nil {
		t.Fatal(err)
	}
	ns, n := o.SecretRef()
	if o.HubURL != "https://hub:8443" || o.MetricsListen != ":9191" || ns != "ote-system" || n != "ote-agent-credential" {
		t.Fatalf("%+v", o)
	}
	_, err = parse(map[string]string{"OTE_HUB_URL": "ftp://x"}, "--cluster-name", "Edge_1", "--credential-secret", "nope", "--log-level", "loud")
	for _, want := range []string{"--hub-url", "--cluster-name", "--credential-secret", "--log-level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestApplyConcurrency(t *testing.T) {
	base := []string{"--hub-url", "https://hub:8443", "--cluster-name", "edge-1"}
	o, err := parse(nil, base...)
	if err != nil || o.ApplyConcurrency != 4 {
		t.Fatalf("default: %v %d", err, o.ApplyConcurrency)
	}
	o, err = parse(map[string]string{"OTE_APPLY_CONCURRENCY": "8"}, base...)
	if err != nil || o.ApplyConcurrency != 8 {
		t.Fatalf("from the environment: %v %d", err, o.ApplyConcurrency)
	}
	if _, err := parse(nil, append(base, "--apply-concurrency", "0")...); err == nil || !strings.Contains(err.Error(), "--apply-concurrency") {
		t.Fatalf("zero: %v", err)
	}
}

func TestHubCA(t *testing.T) {
	o, err := parse(map[string]string{"OTE_HUB_CA": "/etc/ote/hub-ca/ca.crt"}, "--hub-url", "https://hub:8443", "--cluster-name", "edge-1")
	if err != nil || o.HubCA != "/etc/ote/hub-ca/ca.crt" {
		t.Fatalf("%v %+v", err, o)
	}
	if _, err := parse(nil, "--hub-url", "http://hub:8080", "--cluster-name", "edge-1", "--hub-ca", "ca.crt"); err == nil || !strings.Contains(err.Error(), "--hub-ca") {
		t.Fatalf("a CA for a plain-HTTP hub: %v", err)
	}
}
