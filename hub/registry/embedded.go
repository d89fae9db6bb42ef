package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/ote-stack/ote/pkg/certreload"
	"github.com/ote-stack/ote/pkg/listenaddr"

	// The token access controller and the filesystem driver register
	// themselves by import.
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// EmbeddedOptions configure the registry the hub runs in its own process.
type EmbeddedOptions struct {
	// Listen is the registry's listener address, e.g. ":5000".
	Listen string
	// Dir holds the registry's blobs and the JWKS file.
	Dir string
	// Host is the address clients reach the registry at (default: the
	// listener's address, "localhost:<port>" when it listens on all
	// addresses).
	Host string
	// Realm is the token endpoint clients are sent to (default:
	// http://<Host>/auth/token, served by Token on the registry's own
	// listener: clients such as go-containerregistry accept a realm on the
	// registry's host:port without further checks).
	Realm string
	// Token serves the realm's requests on the registry's listener.
	Token http.Handler
	// TLSCert and TLSKey (PEM files) make the registry serve HTTPS; they
	// are read again when they change.
	TLSCert, TLSKey string
	// Issuer signs the tokens the registry accepts.
	Issuer *Issuer
	// Secret signs the state of uploads in progress; replicas behind one
	// address share it.
	Secret string
	// Observer hears of manifests pushed and deleted (may be nil).
	Observer Observer
	// Registerer receives the registry's request metrics (may be nil).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Embedded is a CNCF distribution registry served by the hub process, with
// filesystem storage, deletes enabled and token auth against the hub.
type Embedded struct {
	lock   *os.File
	host   string
	realm  string
	scheme string
	srv    *http.Server
	ln     net.Listener
	app    *handlers.App
	done   chan error
}

// StartEmbedded writes the registry's JWKS file, builds the registry and
// starts serving it on opts.Listen. Stop it with Shutdown.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	for _, dir := range []string{opts.Dir, filepath.Join(opts.Dir, "data")} {
		if err := privateDir(dir); err != nil {
			return nil, fmt.Errorf("registry directory: %w", err)
		}
	}
	lock, err := lockStorage(opts.Dir, false)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	jwks := filepath.Join(opts.Dir, "jwks.json")
	if err := writeFileAtomic(jwks, opts.Issuer.JWKS()); err != nil {
		return nil, fmt.Errorf("registry jwks: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("registry listener: %w", err)
	}
	if opts.Host == "" {
		opts.Host = listenaddr.Display(ln.Addr())
	}
	scheme := "http"
	if opts.TLSCert != "" {
		// Renewed files are served from the next handshake on.
		certs, err := certreload.New(opts.TLSCert, opts.TLSKey, certreload.Options{Logger: opts.Logger})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("registry TLS: %w", err)
		}
		ln = tls.NewListener(ln, certs.TLSConfig())
		scheme = "https"
	}
	if opts.Realm == "" {
		opts.Realm = scheme + "://" + opts.Host + TokenPath
	}
	// distribution logs through logrus; keep it to errors (its warnings are
	// mostly the 401 of every token challenge), as JSON on stderr.
	logrus.SetLevel(logrus.ErrorLevel)
	logrus.SetFormatter(quietFormatter{&logrus.JSONFormatter{}})

	// Parsed from YAML like the registry's own config file, so that every
	// default the registry sets for a file applies here too.
	cfg, err := configuration.Parse(strings.NewReader(fmt.Sprintf(`version: 0.1
log:
  level: error
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
auth:
  token:
    realm: %q
    service: %q
    issuer: %q
    jwks: %q
http:
  secret: %q
`, filepath.Join(opts.Dir, "data"), opts.Realm, opts.Issuer.Service, opts.Issuer.Name, jwks, opts.Secret)))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("registry configuration: %w", err)
	}
	app, err := newApp(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var reg http.Handler = app
	if opts.Observer != nil {
		reg = observe(app, opts.Observer, opts.Logger)
	}
	mux := http.NewServeMux()
	mux.Handle("/", reg)
	if opts.Token != nil {
		mux.Handle(TokenPath, opts.Token)
	}
	var h http.Handler = mux
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer)
		if err != nil {
			ln.Close()
			app.Shutdown()
			return nil, err
		}
		h = m.wrap(mux)
	}
	e := &Embedded{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		lock:   lock,
		host:   opts.Host,
		realm:  opts.Realm,
		scheme: scheme,
		ln:     ln,
		app:    app,
		done:   make(chan error, 1),
	}
	go func() { e.done <- e.srv.Serve(ln) }()
	started = true
	return e, nil
}

// newApp builds the registry; distribution panics on bad configuration.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry: %v", r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// TokenPath is where the embedded registry's listener serves the realm.
const TokenPath = "/auth/token"

// Host is the address clients reach the registry at.
func (e *Embedded) Host() string { return e.host }

// Scheme is http, or https when the registry serves TLS.
func (e *Embedded) Scheme() string { return e.scheme }

// Realm is the token endpoint the registry sends clients to.
func (e *Embedded) Realm() string { return e.realm }

// Addr is the address the registry listens on.
func (e *Embedded) Addr() net.Addr { return e.ln.Addr() }

// Shutdown stops accepting, waits for requests in flight (up to ctx) and
// stops the registry's background work.
func (e *Embedded) Shutdown(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if serr := <-e.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if aerr := e.app.Shutdown(); err == nil {
		err = aerr
	}
	e.lock.Close()
	return err
}

// privateDir makes dir with mode 0700, or takes the group and other bits
// off an existing one.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return os.Chmod(dir, perm&0o700)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// quietFormatter drops the registry's reports of requests it answered with
// a 4xx (a client asking for a blob before pushing it, a token challenge):
// routine, and at error level they would drown the real errors.
type quietFormatter struct{ logrus.Formatter }

func (q quietFormatter) Format(e *logrus.Entry) ([]byte, error) {
	if st, ok := e.Data["http.response.status"].(int); ok && st >= 400 && st < 500 {
		return nil, nil
	}
	return q.Formatter.Format(e)
}
