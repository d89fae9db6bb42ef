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
	"github.com/ote-stack/ote/protocol"
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
	app.Use(s.observe, s.requestContext, s.bodyGate)
	s.routes(app)
	return &Server{App: app, tunnel: s.newTunnelServer()}, nil
}

func (s *server) routes(app *fiber.App) {
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler())

	v1 := app.Group("/v1")
	authed := s.authenticate
	admin := s.requireRole(store.RoleBusinessAdmin, store.RoleSysAdmin)
	sysAdmin := s.requireRole(store.RoleSysAdmin)

	v1.Post("/authorization", s.login)
	v1.Put("/authorization", authed, s.refreshToken)
	v1.Delete("/authorization", authed, s.logout)
	v1.Get("/authorization", authed, s.authorizationInfo)

	v1.Post("/user", s.register)
	v1.Put("/user", authed, s.changePassword)

	v1.Get("/admin/user", authed, admin, s.listUsers)
	v1.Post("/admin/user", authed, admin, s.audited("user.create"), s.createSubUser)
	v1.Delete("/admin/user/:userid", authed, admin, s.audited("user.delete"), s.deleteUser)
	v1.Put("/admin/user/:userId/password", authed, admin, s.audited("user.password.reset"), s.resetPassword)
	v1.Put("/admin/user/:userId", authed, sysAdmin, s.audited("user.audit"), s.auditUser)

	v1.Post("/business", authed, s.createBusiness)
	v1.Get("/business", authed, s.listBusinesses)
	v1.Get("/business/id/:id", authed, s.getBusiness)
	v1.Put("/business/id/:id", authed, sysAdmin, s.audited("business.audit"), s.auditBusiness)

	approved := s.requireRole(store.RoleApproved, store.RoleUser, store.RoleBusinessAdmin, store.RoleSysAdmin)
	v1.Get("/cluster", authed, approved, s.listClusters)
	v1.Post("/cluster/label", authed, sysAdmin, s.audited("cluster.label.add"), s.addClusterLabel)
	v1.Delete("/cluster/label", authed, sysAdmin, s.audited("cluster.label.remove"), s.removeClusterLabel)
	v1.Get("/cluster/label", authed, approved, s.clusterLabelNames)
	v1.Get("/cluster/label/:clusterName", authed, approved, s.clusterLabels)

	v1.Get("/node", authed, approved, s.listNodes)
	v1.Post("/node/label", authed, sysAdmin, s.audited("node.label.add"), s.addNodeLabel)
	v1.Delete("/node/label", authed, sysAdmin, s.audited("node.label.remove"), s.removeNodeLabel)
	v1.Get("/node/label", authed, approved, s.nodeLabelNames)

	member := s.requireRole(store.RoleUser, store.RoleBusinessAdmin, store.RoleSysAdmin)
	v1.Post("/app", authed, member, s.createApp)
	v1.Post("/app/chart", authed, member, s.uploadChart)
	v1.Delete("/app", authed, member, s.deleteApps)
	v1.Get("/app", authed, member, s.listApps)
	v1.Get("/app/id/:appId", authed, member, s.getApp)

	v1.Post("/deploy", authed, member, s.audited("deploy.create"), s.createDeploy)
	v1.Get("/deploy", authed, member, s.listDeploys)
	v1.Delete("/deploy/id/:deployId", authed, member, s.audited("deploy.delete"), s.deleteDeployByID)
	v1.Post("/deploy/id/:deployId", authed, member, s.audited("deploy.upgrade"), s.upgradeDeploy)
	v1.Put("/deploy/id/:deployId", authed, member, s.audited("deploy.rollback"), s.rollbackDeploy)
	v1.Get("/deploy/id/:deployId", authed, member, s.getDeploy)
	v1.Delete("/deploy/:deployName", authed, member, s.audited("deploy.delete"), s.deleteDeployByName)
	v1.Put("/admin/deploy", authed, admin, s.audited("deploy.audit"), s.auditDeploy)
	v1.Post("/admin/deploy", authed, admin, s.audited("deploy.audit"), s.auditDeploy)
	v1.Get("/admin/deploy", authed, admin, s.listAudits)
	// The audit trail of administrative writes (not the deployment audit
	// queue above): see trail.go.
	v1.Get("/admin/audit", authed, admin, s.listTrail)

	v1.Post("/repository/third", authed, member, s.audited("repository.create"), s.createRepo)
	v1.Delete("/repository/third", authed, member, s.audited("repository.delete"), s.deleteRepos)
	v1.Get("/repository/third", authed, member, s.listRepos)
	v1.Get("/repository/third/:repoId", authed, member, s.getRepo)

	v1.Get("/repository/image", authed, member, s.listImages)
	v1.Delete("/repository/image", authed, member, s.audited("image.delete"), s.deleteImages)
	v1.Get("/repository/image/tag", authed, member, s.listTags)
	v1.Delete("/repository/image/tag", authed, member, s.audited("tag.delete"), s.deleteTags)
	v1.Post("/repository/user", authed, member, s.audited("registry.user.create"), s.createRegistryUser)
	v1.Put("/repository/user", authed, member, s.audited("registry.user.password"), s.updateRegistryPassword)
	v1.Get("/repository/project", authed, member, s.listProjects)
	v1.Post("/repository/project", authed, member, s.audited("project.create"), s.createProject)
	v1.Delete("/repository/project", authed, member, s.audited("project.delete"), s.deleteProjects)

	// The registry's token realm and the key it trusts: no platform token.
	v1.Get("/registry/token", s.registryToken)
	v1.Post("/registry/token", s.registryToken)
	v1.Get("/registry/jwks.json", s.registryJWKS)

	v1.Post(protocol.JoinPath[len("/v1"):], s.joinCluster)
	// The tunnel is served by net/http (tunnelhttp.go); a tunnel request
	// that reaches fiber came on a kept-alive connection.
	v1.Get(protocol.TunnelPath[len("/v1"):], s.authenticateAgent, misroutedTunnel)
	v1.Get(protocol.ChartsPath[len("/v1"):]+"/:digest", s.authenticateAgent, s.chartArchive)
	v1.Get(protocol.PullSecretsPath[len("/v1"):]+"/:namespace/:repoId", s.authenticateAgent, s.pullSecret)
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
