// Command hub serves the OTE platform's /v1 REST API.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/config"
	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/tunnel"
	"github.com/ote-stack/ote/pkg/certreload"
	"github.com/ote-stack/ote/pkg/listenaddr"
	"github.com/ote-stack/ote/pkg/logging"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	// Before anything is written: the data directory's files are the hub's alone.
	privateUmask()
	if len(os.Args) > 1 && os.Args[1] == "registry-gc" {
		os.Exit(registryGC(os.Args[2:]))
	}
	opts := config.Default()
	fs := flag.NewFlagSet("hub", flag.ExitOnError)
	opts.Bind(fs, os.Getenv)
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("hub", version)
		return
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "hub: invalid options:\n%v\n", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, opts.LogFormat, opts.SlogLevel())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error("hub stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts *config.Options, log *slog.Logger) error {
	if usesDataDir(opts) {
		if err := privateDataDir(opts.DataDir, log); err != nil {
			return err
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := sqlstore.Open(openCtx, opts.DBDSN())
	if err != nil {
		return err
	}
	defer st.Close()
	version, _ := st.SchemaVersion(openCtx)
	log.Info("database ready", "dialect", st.Dialect(), "schema_version", version)

	if err := ensureAdmin(openCtx, st, opts); err != nil {
		return err
	}
	key := []byte(opts.JWTKey)
	if len(key) == 0 {
		if key, err = auth.LoadOrCreateKey(opts.JWTKeyFile()); err != nil {
			return err
		}
	}
	tokens, err := auth.NewTokens(key)
	if err != nil {
		return err
	}
	secretKey := []byte(opts.SecretKey)
	if len(secretKey) == 0 {
		if secretKey, err = auth.LoadOrCreateKey(opts.SecretKeyFile()); err != nil {
			return err
		}
	}
	sealer, err := secrets.New(secretKey)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tun, err := tunnel.New(st, log, reg, tunnel.Options{Heartbeat: opts.HeartbeatInterval})
	if err != nil {
		return err
	}
	if err := tun.Start(openCtx); err != nil {
		return err
	}
	defer tun.Stop()
	// Other replicas' writes of desired state wake this replica at once,
	// and their new sessions close this one's older sessions of the same
	// clusters (PostgreSQL LISTEN/NOTIFY); the tunnel's poll is the
	// safety net of the first.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		st.Watch(watchCtx, log, sqlstore.Changes{Desired: tun.Notify, Sessions: tun.SessionsChanged})
	}()
	defer func() { stopWatch(); <-watched }()
	// Rollouts move on from their agents' reports and their clocks; every
	// replica steps them, each rollout under its row's lock.
	rolloutCtx, stopRollouts := context.WithCancel(context.Background())
	rolled := make(chan struct{})
	go func() { defer close(rolled); deploy.RunRollouts(rolloutCtx, st, time.Second, tun.Notify, log) }()
	defer func() { stopRollouts(); <-rolled }()
	if opts.AuditRetention > 0 {
		pruneCtx, stopPrune := context.WithCancel(context.Background())
		pruned := make(chan struct{})
		go func() { defer close(pruned); pruneAudit(pruneCtx, st, opts.AuditRetention, log) }()
		defer func() { stopPrune(); <-pruned }()
	}
	stopDebug, err := serveDebug(context.Background(), opts.DebugListen, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	if opts.AgentBootstrapToken == "" {
		log.Warn("no --agent-bootstrap-token: edge clusters cannot join")
	}

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	scheme := "http"
	if opts.TLSCert != "" {
		// The API and the agents' tunnel share the listener, so both are
		// TLS; renewed files are picked up at the next handshake.
		certs, err := certreload.New(opts.TLSCert, opts.TLSKey, certreload.Options{Logger: log.With("component", "tls")})
		if err != nil {
			return err
		}
		ln, scheme = tls.NewListener(ln, certs.TLSConfig()), "https"
	}
	token := &lateHandler{}
	regCfg, stopRegistry, err := startRegistry(ctx, opts, st, sealer, token, reg, log)
	if err != nil {
		return err
	}
	defer stopRegistry()

	app, err := api.New(api.Config{
		Registry:       regCfg,
		Tunnel:         tun,
		Sealer:         sealer,
		BootstrapToken: opts.AgentBootstrapToken,
		Store:          st,
		Tokens:         tokens,
		Logger:         log,
		Registerer:     reg,
		Gatherer:       reg,
		BodyLimit:      opts.BodyLimit,
		Login:          api.DefaultLoginLimits,
		Features: api.Features{
			PrivateProject:        opts.PrivateProject,
			EnableIngress:         opts.EnableIngress,
			EnableAlert:           opts.EnableAlert,
			EnableAdminAutoDeploy: opts.EnableAdminAutoDeploy,
		},

		// Bounds of request bodies and chart uploads, and of registration.
		ChartLimit:         opts.ChartLimit,
		ChartUnpackedLimit: opts.UnpackedChartLimit(),
		ChartUploads:       opts.ChartUploads,
		Register:           api.RegisterLimits{Burst: opts.RegisterBurst, Every: opts.RegisterEvery, MaxPending: opts.MaxPendingUsers},
		Proxies:            api.Proxies{Trusted: opts.Proxies(), Header: opts.ProxyHeader},
	})
	if err != nil {
		return err
	}

	token.set(tokenOnRegistry(app.App))
	log.Info("hub listening", "addr", ln.Addr().String(), "api", scheme+"://"+listenaddr.Display(ln.Addr())+"/v1")

	served := make(chan error, 1)
	go func() { served <- app.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Agents first: their sessions are hijacked connections that the HTTP
	// server's shutdown does not wait for. No new tunnel is accepted while
	// the hub tells the agents when to come back.
	tctx, tcancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	if err := app.StopTunnels(tctx); err != nil {
		log.Warn("stop accepting tunnels", "err", err)
	}
	tcancel()
	tun.Stop()
	if err := app.ShutdownWithTimeout(opts.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	log.Info("hub stopped cleanly")
	return nil
}

// ensureAdmin creates the first system administrator. A generated password is
// written once to standard error, outside the structured log.
func ensureAdmin(ctx context.Context, st store.Store, opts *config.Options) error {
	pw, generated := opts.AdminPassword, false
	if pw == "" {
		pw, generated = auth.GeneratePassword(), true
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	u := &store.User{Name: opts.AdminUser, PasswordHash: hash, RealName: "System Administrator", Phone: "00000"}
	created, err := st.EnsureSysAdmin(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("cannot create system administrator %q: a user of that name exists", opts.AdminUser)
	}
	if err != nil || !created {
		return err
	}
	if generated {
		fmt.Fprintf(os.Stderr, "\n"+
			"  System administrator created.\n"+
			"    user:     %s\n"+
			"    password: %s\n"+
			"  This password is shown only this once; change it with PUT /v1/user.\n\n", u.Name, pw)
	} else {
		fmt.Fprintf(os.Stderr, "\n  System administrator %q created with the password given in --admin-password.\n\n", u.Name)
	}
	return nil
}

// pruneAudit removes audit trail entries older than retention, at start and
// then every hour, until ctx ends.
func pruneAudit(ctx context.Context, st store.Store, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := st.PruneAudit(qctx, time.Now().Add(-retention))
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("prune the audit trail", "err", err)
		case n > 0:
			log.Info("audit trail pruned", "entries", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
