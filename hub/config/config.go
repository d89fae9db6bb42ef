// Package config holds the hub's options: defaults, flags that also read
// environment variables, and validation.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/pkg/flagenv"
	"github.com/ote-stack/ote/pkg/logging"
)

// Options configure one hub process.
type Options struct {
	// Listen is the address of the REST API (and, later, the agents' tunnel).
	Listen string
	// DB is sqlite://PATH or a postgres:// DSN; empty means
	// sqlite://<DataDir>/hub.db.
	DB string
	// DataDir holds the SQLite file, generated keys and registry storage.
	DataDir string
	// AdminUser and AdminPassword seed the first system administrator; with
	// no password one is generated and printed once.
	AdminUser     string
	AdminPassword string
	// JWTKey signs access tokens; empty means a key generated into DataDir.
	JWTKey string
	// SecretKey seals stored credentials (AES-GCM); empty means a key
	// generated into DataDir. Replicas must share it.
	SecretKey string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// BodyLimit is the largest request body accepted, in bytes.
	BodyLimit int
	// ChartLimit is the largest Helm chart archive accepted, in bytes.
	ChartLimit int
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// AgentBootstrapToken admits new edge clusters; empty disables joining.
	AgentBootstrapToken string
	// HeartbeatInterval is the agents' heartbeat period.
	HeartbeatInterval time.Duration
	// DebugListen serves Go's profiles (net/http/pprof) on their own
	// address, for operators who profile the hub; empty: none. Nothing
	// there is authenticated: keep it on loopback.
	DebugListen string

	// RegistryListen is the embedded registry's listener ("off": none,
	// for a hub that fronts an external registry or none at all).
	RegistryListen string
	// RegistryURL points the hub at an external distribution registry
	// instead of the embedded one.
	RegistryURL string
	// RegistryHost is the registry's address in imageAddress (default: the
	// embedded listener's address, or the host of RegistryURL).
	RegistryHost string
	// RegistryRealm is the token realm clients are sent to (default:
	// http://<registry host name>:<API port>/v1/registry/token).
	RegistryRealm string
	// RegistryService is the registry's service name (auth.token.service).
	RegistryService string
	// RegistryResync is the period of the image index's reconcile.
	RegistryResync time.Duration
	// RegistryTLSCert and RegistryTLSKey make the embedded registry serve
	// HTTPS (PEM files); edge container runtimes expect it.
	RegistryTLSCert string
	RegistryTLSKey  string
	// TLSCert and TLSKey (PEM files) make the API and the agents' tunnel
	// serve HTTPS; the files are read again when they change.
	TLSCert string
	TLSKey  string

	PrivateProject        bool
	EnableIngress         bool
	EnableAlert           bool
	EnableAdminAutoDeploy bool

	// RegisterBurst registrations (POST /v1/user) per client address, then
	// one more every RegisterEvery.
	RegisterBurst int
	RegisterEvery time.Duration
	// MaxPendingUsers refuses registrations (503) while that many users
	// wait for approval; 0: no cap.
	MaxPendingUsers int
	// AuditRetention is how long audit trail entries are kept; 0 keeps
	// them forever.
	AuditRetention time.Duration
	// TrustedProxies (comma-separated addresses or CIDR ranges) are the
	// reverse proxies whose ProxyHeader names the client.
	TrustedProxies string
	ProxyHeader    string
	// ChartUnpackedLimit is the most bytes a chart archive may decompress
	// to; 0: four times ChartLimit.
	ChartUnpackedLimit int
	// ChartUploads is how many chart uploads run at once.
	ChartUploads int

	envErr error
}

// Default returns the options of a hub started with no flags.
func Default() *Options {
	return &Options{
		Listen:            ":8080",
		DataDir:           "./data",
		AdminUser:         "admin",
		LogLevel:          "info",
		LogFormat:         "text",
		BodyLimit:         1 << 20,
		ChartLimit:        8 << 20,
		ShutdownTimeout:   15 * time.Second,
		HeartbeatInterval: 10 * time.Second,
		PrivateProject:    true,
		RegistryListen:    ":5000",
		RegistryService:   "ote-registry",
		RegistryResync:    10 * time.Minute,
		RegisterBurst:     3,
		RegisterEvery:     10 * time.Minute,
		MaxPendingUsers:   1000,
		AuditRetention:    400 * 24 * time.Hour,
		ProxyHeader:       "X-Real-IP",
		ChartUploads:      2,
	}
}

// Bind registers every option as a flag whose default comes from its
// environment variable (read through getenv) when that is set.
func (o *Options) Bind(fs *flag.FlagSet, getenv func(string) string) {
	b := &flagenv.Binder{FS: fs, Getenv: getenv}
	defer func() { o.envErr = b.Err() }()
	b.String(&o.Listen, "listen", "OTE_LISTEN", "address of the REST API")
	b.String(&o.DB, "db", "OTE_DB", "database: sqlite://PATH or postgres://user:pass@host/db (default sqlite://<data-dir>/hub.db)")
	b.String(&o.DataDir, "data-dir", "OTE_DATA_DIR", "directory of the SQLite file, generated keys and registry storage")
	b.String(&o.AdminUser, "admin-user", "OTE_ADMIN_USER", "name of the system administrator created on first start")
	b.String(&o.AdminPassword, "admin-password", "OTE_ADMIN_PASSWORD", "password of that administrator (default: generated and printed once)")
	b.String(&o.JWTKey, "jwt-key", "OTE_JWT_KEY", "HMAC key of access tokens, 32 bytes or more (default: generated into the data dir)")
	b.String(&o.SecretKey, "secret-key", "OTE_SECRET_KEY", "key that seals stored credentials, 32 bytes or more (default: generated into the data dir)")
	b.String(&o.LogLevel, "log-level", "OTE_LOG_LEVEL", "debug, info, warn or error")
	b.String(&o.LogFormat, "log-format", "OTE_LOG_FORMAT", "text (one key=value line per record) or json (one JSON object per line)")
	b.Int(&o.BodyLimit, "body-limit", "OTE_BODY_LIMIT", "largest request body in bytes")
	b.Int(&o.ChartLimit, "chart-limit", "OTE_CHART_LIMIT", "largest Helm chart archive in bytes (POST /v1/app/chart)")
	b.Duration(&o.ShutdownTimeout, "shutdown-timeout", "OTE_SHUTDOWN_TIMEOUT", "how long a graceful shutdown may take")
	b.String(&o.AgentBootstrapToken, "agent-bootstrap-token", "OTE_AGENT_BOOTSTRAP_TOKEN", "token with which new edge clusters' agents join (empty: joining disabled)")
	b.Duration(&o.HeartbeatInterval, "heartbeat-interval", "OTE_HEARTBEAT_INTERVAL", "agents' heartbeat period; a cluster silent for three periods is not ready")
	b.String(&o.DebugListen, "debug-listen", "OTE_DEBUG_LISTEN", "address serving /debug/pprof/ (unauthenticated: keep it on loopback; empty: off)")
	b.String(&o.RegistryListen, "registry-listen", "OTE_REGISTRY_LISTEN", "address of the embedded image registry (\"off\": no embedded registry)")
	b.String(&o.RegistryURL, "registry-url", "OTE_REGISTRY_URL", "URL of an external distribution registry to front instead of the embedded one")
	b.String(&o.RegistryHost, "registry-host", "OTE_REGISTRY_HOST", "registry address shown in imageAddress (default: the registry's listener or URL host)")
	b.String(&o.RegistryRealm, "registry-realm", "OTE_REGISTRY_REALM", "token realm URL the registry sends clients to (default: http://<registry host name>:<API port>/v1/registry/token)")
	b.String(&o.RegistryService, "registry-service", "OTE_REGISTRY_SERVICE", "service name of the registry's tokens (auth.token.service)")
	b.String(&o.RegistryTLSCert, "registry-tls-cert", "OTE_REGISTRY_TLS_CERT", "certificate (PEM) with which the embedded registry serves HTTPS")
	b.String(&o.RegistryTLSKey, "registry-tls-key", "OTE_REGISTRY_TLS_KEY", "private key (PEM) of --registry-tls-cert")
	b.String(&o.TLSCert, "tls-cert", "OTE_TLS_CERT", "certificate (PEM) with which the API and the agents' tunnel serve HTTPS; read again when it changes")
	b.String(&o.TLSKey, "tls-key", "OTE_TLS_KEY", "private key (PEM) of --tls-cert")
	b.Duration(&o.RegistryResync, "registry-resync", "OTE_REGISTRY_RESYNC", "how often the image index is reconciled with the registry")
	b.Bool(&o.PrivateProject, "private-project", "OTE_PRIVATE_PROJECT", "new image projects are private")
	b.Bool(&o.EnableIngress, "enable-ingress", "OTE_ENABLE_INGRESS", "offer ingress for applications")
	b.Bool(&o.EnableAlert, "enable-alert", "OTE_ENABLE_ALERT", "alerting is configured (enableAlert of GET /v1/authorization; the hub chart sets it with monitoring.prometheusRule.enabled)")
	b.Bool(&o.EnableAdminAutoDeploy, "enable-admin-auto-deploy", "OTE_ENABLE_ADMIN_AUTO_DEPLOY", "administrators' deployments run without audit")
	b.Int(&o.RegisterBurst, "register-burst", "OTE_REGISTER_BURST", "registrations (POST /v1/user) per client address before they are throttled (0: unlimited)")
	b.Duration(&o.RegisterEvery, "register-every", "OTE_REGISTER_EVERY", "one more registration per address every this long once the burst is spent")
	b.Int(&o.ChartUnpackedLimit, "chart-unpacked-limit", "OTE_CHART_UNPACKED_LIMIT", "most bytes a chart archive may decompress to (default: 4 times --chart-limit)")
	b.Int(&o.ChartUploads, "chart-uploads", "OTE_CHART_UPLOADS", "chart uploads processed at once; more are answered 503 with Retry-After")
	b.Int(&o.MaxPendingUsers, "max-pending-users", "OTE_MAX_PENDING_USERS", "registrations are refused (503) while this many users wait for approval (0: no cap)")
	b.Duration(&o.AuditRetention, "audit-retention", "OTE_AUDIT_RETENTION", "how long audit trail entries are kept, at least 24h (0: forever)")
	b.String(&o.TrustedProxies, "trusted-proxies", "OTE_TRUSTED_PROXIES", "reverse proxies (comma-separated addresses or CIDR ranges) whose --proxy-header names the client")
	b.String(&o.ProxyHeader, "proxy-header", "OTE_PROXY_HEADER", "header in which a trusted proxy names the client; the proxy must set it, not append to it")
}

// Proxies lists TrustedProxies.
func (o *Options) Proxies() []string {
	var out []string
	for _, p := range strings.Split(o.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DBDSN is the database to open.
func (o *Options) DBDSN() string {
	if o.DB != "" {
		return o.DB
	}
	return "sqlite://" + filepath.Join(o.DataDir, "hub.db")
}

// SecretKeyFile is where a generated secret key is kept.
func (o *Options) SecretKeyFile() string { return filepath.Join(o.DataDir, "secret.key") }

// JWTKeyFile is where a generated JWT key is kept.
func (o *Options) JWTKeyFile() string { return filepath.Join(o.DataDir, "jwt.key") }

// SlogLevel parses LogLevel.
func (o *Options) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(o.LogLevel))
	return l
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	errs := []error{o.envErr}
	if o.Listen == "" {
		errs = append(errs, errors.New("--listen must not be empty"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if db := o.DBDSN(); !strings.HasPrefix(db, "sqlite://") && !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
		errs = append(errs, errors.New("--db must be sqlite://PATH or postgres://..."))
	}
	if o.AdminUser == "" {
		errs = append(errs, errors.New("--admin-user must not be empty"))
	}
	if o.AdminPassword != "" {
		if err := auth.ValidatePassword(o.AdminPassword); err != nil {
			errs = append(errs, fmt.Errorf("--admin-password %v", err))
		}
	}
	if o.JWTKey != "" && len(o.JWTKey) < 32 {
		errs = append(errs, errors.New("--jwt-key must be at least 32 bytes"))
	}
	if o.SecretKey != "" && len(o.SecretKey) < 32 {
		errs = append(errs, errors.New("--secret-key must be at least 32 bytes"))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", o.LogLevel))
	}
	if err := logging.CheckFormat(o.LogFormat); err != nil {
		errs = append(errs, err)
	}
	if o.BodyLimit < 1024 {
		errs = append(errs, errors.New("--body-limit must be at least 1024 bytes"))
	}
	if o.AgentBootstrapToken != "" && len(o.AgentBootstrapToken) < 16 {
		errs = append(errs, errors.New("--agent-bootstrap-token must be at least 16 characters"))
	}
	if o.HeartbeatInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("--heartbeat-interval must be at least 100ms"))
	}
	if o.ChartLimit < 1024 || o.ChartLimit > 256<<20 {
		errs = append(errs, errors.New("--chart-limit must be between 1 KiB and 256 MiB"))
	}
	if o.RegistryURL != "" {
		if u, err := url.Parse(o.RegistryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--registry-url must be http(s)://host[:port]"))
		}
	}
	if o.RegistryRealm != "" {
		if u, err := url.Parse(o.RegistryRealm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--registry-realm must be an http(s) URL"))
		}
	}
	if (o.RegistryTLSCert == "") != (o.RegistryTLSKey == "") {
		errs = append(errs, errors.New("--registry-tls-cert and --registry-tls-key go together"))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if o.RegistryService == "" {
		errs = append(errs, errors.New("--registry-service must not be empty"))
	}
	if o.RegistryResync < time.Second {
		errs = append(errs, errors.New("--registry-resync must be at least 1s"))
	}
	if o.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if o.RegisterBurst < 0 || o.MaxPendingUsers < 0 {
		errs = append(errs, errors.New("--register-burst and --max-pending-users must not be negative"))
	}
	if o.ChartUnpackedLimit < 0 || o.ChartUploads < 1 {
		errs = append(errs, errors.New("--chart-unpacked-limit must not be negative and --chart-uploads must be at least 1"))
	}
	if o.RegisterBurst > 0 && o.RegisterEvery <= 0 {
		errs = append(errs, errors.New("--register-every must be positive"))
	}
	for _, p := range o.Proxies() {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR range", p))
			}
		}
	}
	if o.TrustedProxies != "" && strings.TrimSpace(o.ProxyHeader) == "" {
		errs = append(errs, errors.New("--proxy-header must name a header when --trusted-proxies is set"))
	}
	if o.AuditRetention != 0 && o.AuditRetention < 24*time.Hour {
		errs = append(errs, errors.New("--audit-retention must be 0 (forever) or at least 24h"))
	}
	return errors.Join(errs...)
}

// UnpackedChartLimit is ChartUnpackedLimit with its default applied.
func (o *Options) UnpackedChartLimit() int64 {
	if o.ChartUnpackedLimit > 0 {
		return int64(o.ChartUnpackedLimit)
	}
	return 4 * int64(o.ChartLimit)
}

// RegistryDir holds the embedded registry's storage and JWKS file.
func (o *Options) RegistryDir() string { return filepath.Join(o.DataDir, "registry") }

// EmbeddedRegistry reports whether the hub runs its own registry.
func (o *Options) EmbeddedRegistry() bool {
	return o.RegistryURL == "" && o.RegistryListen != "" && o.RegistryListen != "off"
}
