// Package config holds the agent's options: defaults, flags that also read
// environment variables, and validation.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/ote-stack/ote/pkg/flagenv"
	"github.com/ote-stack/ote/pkg/logging"
)

// Options configure one agent.
type Options struct {
	// HubURL is the hub's base URL, the one REST clients use.
	HubURL string
	// ClusterName is this cluster's name at the hub.
	ClusterName string
	// BootstrapToken joins the cluster the first time.
	BootstrapToken string
	// Kubeconfig is a kubeconfig file; empty means in-cluster config.
	Kubeconfig string
	// CredentialSecret is namespace/name of the Secret that keeps the
	// cluster's credential.
	CredentialSecret string
	// HubCA is a PEM file of CAs for the hub's TLS certificate.
	HubCA string
	// MetricsListen serves /metrics and /healthz.
	MetricsListen string
	LogLevel      string
	// LogFormat is text or json.
	LogFormat string
	// WorkloadRole is a ClusterRole the agent binds to ServiceAccount in each
	// business namespace it makes (least privilege: no rights elsewhere).
	WorkloadRole   string
	ServiceAccount string
	// ApplyConcurrency is how many desired items of different keys (say,
	// two deployments' charts) apply at once.
	ApplyConcurrency int

	envErr error
}

// Default returns the options of an agent started with no flags.
func Default() *Options {
	return &Options{
		CredentialSecret: "ote-system/ote-agent-credential",
		MetricsListen:    ":9090",
		LogLevel:         "info",
		LogFormat:        "text",
		ApplyConcurrency: 4,
	}
}

// Bind registers every option as a flag that also reads its variable.
func (o *Options) Bind(fs *flag.FlagSet, getenv func(string) string) {
	b := &flagenv.Binder{FS: fs, Getenv: getenv}
	b.String(&o.HubURL, "hub-url", "OTE_HUB_URL", "the hub's base URL, e.g. https://hub.example.com")
	b.String(&o.ClusterName, "cluster-name", "OTE_CLUSTER_NAME", "this cluster's name at the hub (a DNS label)")
	b.String(&o.BootstrapToken, "bootstrap-token", "OTE_BOOTSTRAP_TOKEN", "the hub's bootstrap token, for the first join")
	b.String(&o.Kubeconfig, "kubeconfig", "KUBECONFIG", "kubeconfig file (default: in-cluster configuration)")
	b.String(&o.CredentialSecret, "credential-secret", "OTE_CREDENTIAL_SECRET", "namespace/name of the Secret that keeps the cluster's credential")
	b.String(&o.HubCA, "hub-ca", "OTE_HUB_CA", "PEM file of CAs that sign the hub's TLS certificate")
	b.String(&o.MetricsListen, "metrics-listen", "OTE_METRICS_LISTEN", "address of /metrics and /healthz (empty: off)")
	b.String(&o.LogLevel, "log-level", "OTE_LOG_LEVEL", "debug, info, warn or error")
	b.String(&o.LogFormat, "log-format", "OTE_LOG_FORMAT", "text (one key=value line per record) or json (one JSON object per line)")
	b.String(&o.WorkloadRole, "workload-role", "OTE_WORKLOAD_ROLE", "ClusterRole to bind to the agent's ServiceAccount, and to the workload identity charts act as, in each business namespace (empty: none, and charts are refused)")
	b.Int(&o.ApplyConcurrency, "apply-concurrency", "OTE_APPLY_CONCURRENCY", "desired items of different deployments applied at once (revisions of one apply in order)")
	b.String(&o.ServiceAccount, "service-account", "OTE_SERVICE_ACCOUNT", "the agent's ServiceAccount as namespace/name (with --workload-role)")
	o.envErr = b.Err()
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// SecretRef splits CredentialSecret.
func (o *Options) SecretRef() (namespace, name string) {
	ns, n, _ := strings.Cut(o.CredentialSecret, "/")
	return ns, n
}

// SlogLevel parses LogLevel.
func (o *Options) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(o.LogLevel))
	return l
}

// Validate reports every problem at once.
func (o *Options) Validate() error {
	errs := []error{o.envErr}
	if u, err := url.Parse(o.HubURL); o.HubURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("--hub-url must be an http:// or https:// URL"))
	}
	if u, err := url.Parse(o.HubURL); o.HubCA != "" && err == nil && u.Scheme != "https" {
		errs = append(errs, errors.New("--hub-ca is for an https:// --hub-url"))
	}
	if !dnsLabel.MatchString(o.ClusterName) {
		errs = append(errs, errors.New("--cluster-name must be 1-63 lower case letters, digits or '-', starting and ending with a letter or digit"))
	}
	ns, n := o.SecretRef()
	if !dnsLabel.MatchString(ns) || n == "" || strings.Contains(n, "/") {
		errs = append(errs, fmt.Errorf("--credential-secret must be namespace/name, got %q", o.CredentialSecret))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", o.LogLevel))
	}
	if err := logging.CheckFormat(o.LogFormat); err != nil {
		errs = append(errs, err)
	}
	if o.ApplyConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--apply-concurrency must be 1 or more, got %d", o.ApplyConcurrency))
	}
	if o.WorkloadRole != "" {
		if sns, sn, ok := strings.Cut(o.ServiceAccount, "/"); !ok || sns == "" || sn == "" {
			errs = append(errs, errors.New("--workload-role needs --service-account namespace/name"))
		}
	}
	return errors.Join(errs...)
}
