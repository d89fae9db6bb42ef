// Command agent runs in an edge Kubernetes cluster: it dials the OTE hub,
// reports the cluster's nodes and applies what the hub wants there.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ote-stack/ote/agent/apply"
	"github.com/ote-stack/ote/agent/config"
	"github.com/ote-stack/ote/agent/credential"
	"github.com/ote-stack/ote/agent/inventory"
	"github.com/ote-stack/ote/agent/podstatus"
	"github.com/ote-stack/ote/agent/tunnel"
	"github.com/ote-stack/ote/pkg/logging"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	opts := config.Default()
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	opts.Bind(fs, os.Getenv)
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("agent", version)
		return
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "agent: invalid options:\n%v\n", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, opts.LogFormat, opts.SlogLevel())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error("agent stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts *config.Options, log *slog.Logger) error {
	restCfg, err := kubeConfig(opts.Kubeconfig)
	if err != nil {
		return err
	}
	restCfg.UserAgent = "ote-agent/" + version
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	tlsCfg, err := hubTLS(opts.HubCA)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inv := inventory.New(client)
	if err := inv.Start(ctx); err != nil {
		return err
	}
	defer inv.Stop()

	pods := podstatus.New(client)
	if err := pods.Start(ctx); err != nil {
		return err
	}
	defer pods.Stop()

	ns, name := opts.SecretRef()
	// Chart archives come from the hub through the tunnel client, which
	// holds the credential; the client is built just below.
	var tc *tunnel.Client
	helm := &apply.Releases{Config: restCfg, WorkloadRole: opts.WorkloadRole, Log: log, Fetch: func(ctx context.Context, digest string) ([]byte, error) {
		return tc.FetchChart(ctx, digest)
	}}
	tc, err = tunnel.New(tunnel.Config{
		HubURL:         opts.HubURL,
		ClusterName:    opts.ClusterName,
		BootstrapToken: opts.BootstrapToken,
		TLS:            tlsCfg,
		Credentials:    credential.New(client, ns, name),
		Inventory:      inv,
		Applier: apply.NewSet(client, apply.Options{
			Helm:  helm,
			Grant: apply.Grant{ClusterRole: opts.WorkloadRole, ServiceAccount: opts.ServiceAccount},
			FetchPullSecret: func(ctx context.Context, ns, repo string) ([]byte, error) {
				return tc.FetchPullSecret(ctx, ns, repo)
			},
		}),
		Pods:             pods,
		Drift:            pods,
		Charts:           helm,
		ApplyConcurrency: opts.ApplyConcurrency,
		Log:              log,
		Registerer:       reg,
		AgentVersion:     version,
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	if opts.MetricsListen != "" {
		srv, ln, err := metricsServer(opts.MetricsListen, reg, tc)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "addr", ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			wg.Wait()
		}()
	}
	log.Info("agent starting", "cluster", opts.ClusterName, "hub", opts.HubURL, "version", version)
	err = tc.Run(ctx)
	log.Info("agent stopped cleanly")
	return err
}

func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

func hubTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read --hub-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--hub-ca %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// metricsServer serves /metrics; /healthz (the process is alive: 200 even
// while the hub is unreachable, so that a liveness probe does not restart an
// agent that is only waiting for its hub); and /readyz (200 while the tunnel
// is up, 503 otherwise).
func metricsServer(addr string, reg *prometheus.Registry, tc *tunnel.Client) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !tc.Connected() {
			http.Error(w, "not connected to the hub", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}
