// Package api serves the hub's /v1 REST API with fiber: routes, the envelope,
// the error mapping, authentication and the handlers. Handlers decode and
// validate input, call store.Store and return errors; handleError does the rest.
package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/pkg/crashpoint"
	"github.com/ote-stack/ote/pkg/logthrottle"
	"github.com/ote-stack/ote/pkg/ratelimit"
	"github.com/ote-stack/ote/pkg/wsconn"
)

// Features are hub-wide switches reported by GET /v1/authorization.
type Features struct {
	// PrivateProject: new image projects are private.
	PrivateProject bool
	EnableIngress  bool
	EnableAlert    bool
	// EnableAdminAutoDeploy: administrators' deployments skip the audit.
	EnableAdminAutoDeploy bool
}

// RegisterLimits bound self-registration (POST /v1/user), which costs a
// bcrypt hash and a row that waits for an administrator.
type RegisterLimits struct {
	// Burst registrations per address, then one more every Every (zero
	// Burst: unlimited).
	Burst int
	Every time.Duration
	// MaxPending refuses registrations (503) while that many users wait
	// for approval (zero: no cap).
	MaxPending int
}

// DefaultRegisterLimits: 3 registrations per address, then one every 10
// minutes; at most 1000 users waiting for approval.
var DefaultRegisterLimits = RegisterLimits{Burst: 3, Every: 10 * time.Minute, MaxPending: 1000}

// Config wires the API to its dependencies.
type Config struct {
	Store  store.Store
	Tokens *auth.Tokens
	Logger *slog.Logger
	// Registerer receives the HTTP metrics; Gatherer is served on /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Features   Features
	Login      LoginLimits
	Register   RegisterLimits
	// BodyLimit is the largest request body of authenticated routes, in
	// bytes (chart uploads excepted); routes without a token take at most
	// 64 KiB, or BodyLimit if smaller.
	BodyLimit int
	// ChartLimit is the largest chart archive accepted, in bytes.
	ChartLimit int
	// ChartUnpackedLimit is the most bytes a chart archive may decompress
	// to (default 4 × ChartLimit).
	ChartUnpackedLimit int64
	// ChartUploads is how many chart uploads run at once (default 2);
	// more are answered 503 with Retry-After.
	ChartUploads int
	// Proxies are the reverse proxies whose header names the client.
	Proxies Proxies
	// RequestTimeout bounds the store calls of one request.
	RequestTimeout time.Duration
	// Tunnel serves the agents' tunnels and hears of desired-state writes.
	Tunnel Tunnel
	// BootstrapToken admits new clusters; empty disables joining.
	BootstrapToken string
	// Sealer seals the credentials the hub keeps.
	Sealer *secrets.Sealer
	// Registry is the image registry the hub fronts; nil: the image
	// endpoints answer 503.
	Registry *RegistryConfig
}

// Tunnel is the hub's end of the agents' tunnels (package tunnel).
type Tunnel interface {
	// Serve runs the session of an authenticated cluster on conn until it
	// ends. The tunnel's HTTP handler calls it on a goroutine of its own;
	// the tunnel hub's Stop waits for it.
	Serve(conn wsconn.Conn, cluster *store.Cluster)
	// Notify says that desired state was written.
	Notify()
	// ReadyWindow is how long a cluster counts as ready after it was heard.
	ReadyWindow() time.Duration
}

type server struct {
	cfg      Config
	store    store.Store
	tokens   *auth.Tokens
	log      *slog.Logger
	logins   *loginGuard
	regLimit *ratelimit.Limiter
	// agentFails counts failed agent authentications (joins, tunnels,
	// agent downloads) per address; agentLog keeps their log lines to one
	// per address per minute.
	agentFails *ratelimit.Failures
	agentLog   *logthrottle.Throttle
	metrics    *httpMetrics
	// chartSlots holds one token per chart upload in progress.
	chartSlots chan struct{}
	proxies    *proxySet
	// promHandler serves /metrics; openapi is the served description.
	promHandler fiber.Handler
	openapi     *openAPIDoc
}

// New builds the fiber app that serves the API.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.ChartLimit <= 0 {
		cfg.ChartLimit = 8 << 20
	}
	if cfg.ChartUnpackedLimit <= 0 {
		cfg.ChartUnpackedLimit = 4 * int64(cfg.ChartLimit)
	}
	if cfg.ChartUploads <= 0 {
		cfg.ChartUploads = 2
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.Sealer == nil {
		return nil, errors.New("api: no Sealer configured")
	}
	if cfg.Registerer == nil {
		r := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = r, r
	}
	s := &server{
		cfg:        cfg,
		store:      cfg.Store,
		tokens:     cfg.Tokens,
		log:        cfg.Logger,
		logins:     newLoginGuard(cfg.Login),
		regLimit:   ratelimit.New(cfg.Register.Burst, cfg.Register.Every),
		agentFails: ratelimit.NewFailures(cfg.Login.IPEvery).WithClock(nowOr(cfg.Login.Now)),
		agentLog:   logthrottle.New(time.Minute).WithClock(nowOr(cfg.Login.Now)),

		chartSlots: make(chan struct{}, cfg.ChartUploads),
	}
	m, err := newHTTPMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if cfg.Store != nil && cfg.Tunnel != nil {
		if err := cfg.Registerer.Register(newPlatformCollector(cfg.Store, cfg.Tunnel.ReadyWindow)); err != nil {
			return nil, err
		}
	}
	if s.proxies, err = parseProxies(cfg.Proxies); err != nil {
		return nil, err
	}

	app := fiber.New(fiber.Config{
		AppName: "ote-hub",
		// Bodies are read by the routes, each to its limit (body.go):
		// fasthttp reads at most 8 KiB of them before the handlers run,
		// and parses no multipart form on its own.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    smallBodyLimit,
		ErrorHandler:                 s.handleError,
		DisableStartupMessage:        true,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  2 * time.Minute,
	})
	s.promHandler = s.metricsHandler()
	if s.openapi, err = newOpenAPIDoc(apiRoutes); err != nil {
		return nil, err
	}
	app.Use(s.observe, s.requestContext, s.bodyGate)
	s.routes(app)
	return &Server{App: app, tunnel: s.newTunnelServer()}, nil
}

func nowOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// requestContext gives every handler a context with a deadline for its store calls.
func (s *server) requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// desiredWritten tells the tunnel that a handler committed desired state,
// so that it is pushed to the agents now. point names the moment for
// crash tests (pkg/crashpoint, "committed:"+point): a hub that dies here,
// after the commit and before the push, must lose nothing, because
// agents resync from the database when they reconnect.
func (s *server) desiredWritten(point string) {
	crashpoint.Hit("committed:" + point)
	s.cfg.Tunnel.Notify()
}
