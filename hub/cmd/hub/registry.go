package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/config"
	"github.com/ote-stack/ote/hub/registry"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/pkg/listenaddr"
)

// startRegistry starts the embedded registry (or prepares the client of an
// external one) and the image index's reconcile loop. stop undoes it all.
func startRegistry(ctx context.Context, opts *config.Options, st store.Store, sealer *secrets.Sealer, token http.Handler, reg prometheus.Registerer, log *slog.Logger) (*api.RegistryConfig, func(), error) {
	if !opts.EmbeddedRegistry() && opts.RegistryURL == "" {
		log.Warn("no image registry: --registry-listen off and no --registry-url; the image endpoints answer 503")
		return nil, func() {}, nil
	}
	// The signing key derives from the secret key: replicas that share it
	// sign alike.
	issuer, err := registry.NewIssuer("ote-hub", opts.RegistryService, sealer.Derive("registry-token-signing"), 5*time.Minute)
	if err != nil {
		return nil, nil, err
	}
	log = log.With("component", "registry")
	ix := &registry.Indexer{Store: st, Logger: log}

	base, host := opts.RegistryURL, opts.RegistryHost
	var emb *registry.Embedded
	if opts.EmbeddedRegistry() {
		emb, err = registry.StartEmbedded(ctx, registry.EmbeddedOptions{
			Listen:     opts.RegistryListen,
			Dir:        opts.RegistryDir(),
			Host:       host,
			Realm:      opts.RegistryRealm,
			Token:      token,
			TLSCert:    opts.RegistryTLSCert,
			TLSKey:     opts.RegistryTLSKey,
			Issuer:     issuer,
			Secret:     hex.EncodeToString(sealer.Derive("registry-http-secret")),
			Observer:   ix,
			Registerer: reg,
			Logger:     log,
		})
		if err != nil {
			return nil, nil, err
		}
		base, host = emb.Scheme()+"://"+listenaddr.Loopback(emb.Addr()), emb.Host()
		log.Info("embedded registry listening", "addr", emb.Addr().String(), "realm", emb.Realm(), "imageAddress", host)
	} else {
		u, _ := url.Parse(opts.RegistryURL)
		if host == "" {
			host = u.Host
		}
		log.Info("fronting an external registry", "url", opts.RegistryURL, "service", opts.RegistryService,
			"jwks", "GET /v1/registry/jwks.json", "kid", issuer.KeyID())
	}
	client, err := registry.NewClient(base, issuer, 10*time.Second)
	if err != nil {
		if emb != nil {
			emb.Shutdown(context.Background())
		}
		return nil, nil, err
	}
	if emb != nil && emb.Scheme() == "https" {
		client.SkipTLSVerify()
	}
	ix.Client = client

	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ix.Run(loopCtx, opts.RegistryResync) }()
	stop := func() {
		cancel()
		<-done
		if emb != nil {
			sctx, c := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
			defer c()
			if err := emb.Shutdown(sctx); err != nil {
				log.Warn("registry shutdown", "err", err)
			}
		}
	}
	return &api.RegistryConfig{Client: client, Issuer: issuer, Host: host}, stop, nil
}

// lateHandler serves with the handler set once the API is built; until
// then (the first moments of a start) it answers 503.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h.Load()
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

// realmBodyLimit bounds the realm's bodies on the registry listener: the
// adaptor reads them whole into memory before the API sees them.
const realmBodyLimit = 64 << 10

// tokenOnRegistry serves the registry listener's realm with the API's
// token endpoint.
func tokenOnRegistry(app *fiber.App) http.Handler {
	serve := adaptor.FiberApp(app)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > realmBodyLimit {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, realmBodyLimit+1))
		if err != nil || len(body) > realmBodyLimit {
			http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		r = r.Clone(r.Context())
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		r.URL.Path, r.URL.RawPath = "/v1/registry/token", ""
		r.RequestURI = r.URL.RequestURI()
		serve(w, r)
	})
}

// registryGC is "hub registry-gc": garbage collection of the embedded
// registry's storage, with the hub stopped.
func registryGC(args []string) int {
	opts := config.Default()
	fs := flag.NewFlagSet("hub registry-gc", flag.ExitOnError)
	fs.StringVar(&opts.DataDir, "data-dir", envOr("OTE_DATA_DIR", opts.DataDir), "the hub's data directory")
	untagged := fs.Bool("remove-untagged", false, "also delete manifests without a tag (and untagged children of multi-platform indexes)")
	dry := fs.Bool("dry-run", false, "report only")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hub registry-gc [--data-dir DIR] [--remove-untagged] [--dry-run]\n"+
			"Deletes the blobs of the embedded registry that no manifest references (left by image and tag deletes).\n"+
			"The hub serving the data directory must be stopped.\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	res, err := registry.CollectGarbage(context.Background(), opts.RegistryDir(), *untagged, *dry)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hub registry-gc: %v\n", err)
		return 1
	}
	fmt.Printf("registry storage: %d bytes before, %d after (%d freed)\n", res.BytesBefore, res.BytesAfter, res.BytesBefore-res.BytesAfter)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
