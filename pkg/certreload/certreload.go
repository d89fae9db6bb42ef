// Package certreload serves a TLS certificate and key from PEM files that
// are replaced in place (cert-manager renewing a Secret mounted as a
// volume), reading them again when they change, without a restart.
package certreload

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckEvery is how often, at most, the files are looked at again.
const DefaultCheckEvery = 2 * time.Second

// Reloader hands out the certificate of its files. Its GetCertificate reads
// the two files again (a few kilobytes, at most every CheckEvery, during a
// handshake) and parses them when their bytes changed. Bytes rather than
// modification times: a rewrite in place may keep the size, and file times
// are only as fine as the kernel's clock tick. A pair that does not parse,
// or whose key does not match, is logged and the last good pair stays in
// service.
type Reloader struct {
	certFile, keyFile string
	checkEvery        time.Duration
	log               *slog.Logger
	now               func() time.Time

	cert atomic.Pointer[tls.Certificate] // the pair in service

	mu      sync.Mutex        // held while looking at the files; guards the fields below
	seen    [sha256.Size]byte // digest of the files as last read, good or not
	readErr string            // the last error reading them, logged once
	checked time.Time
}

// Options tune a Reloader; the zero value is fine.
type Options struct {
	// CheckEvery bounds how often the files are read (default
	// DefaultCheckEvery; negative: at every handshake).
	CheckEvery time.Duration
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New reads the pair once: a hub must not start with a certificate it
// cannot serve.
func New(certFile, keyFile string, opts Options) (*Reloader, error) {
	if opts.CheckEvery == 0 {
		opts.CheckEvery = DefaultCheckEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, checkEvery: opts.CheckEvery, log: opts.Logger, now: opts.Now}
	certPEM, keyPEM, err := r.read()
	if err != nil {
		return nil, err
	}
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.seen, r.checked = digest(certPEM, keyPEM), r.now()
	r.logLoaded("TLS certificate loaded", cert)
	return r, nil
}

// TLSConfig is a server configuration that serves the reloaded pair.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		// HTTP/1.1 only: the API's server (fasthttp) speaks no HTTP/2,
		// and websockets upgrade from HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}
}

// GetCertificate is tls.Config.GetCertificate. Handshakes that arrive while
// another one looks at the files (agents reconnecting together) do not wait
// for it: they get the pair in service.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if r.mu.TryLock() {
		if now := r.now(); now.Sub(r.checked) >= r.checkEvery {
			r.checked = now
			r.reloadLocked()
		}
		r.mu.Unlock()
	}
	return r.cert.Load(), nil
}

// Certificate is the pair in service.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

func (r *Reloader) reloadLocked() {
	certPEM, keyPEM, err := r.read()
	if err != nil {
		if err.Error() != r.readErr {
			r.log.Error("TLS certificate files unreadable; serving the previous certificate", "err", err)
			r.readErr = err.Error()
		}
		return
	}
	r.readErr = ""
	seen := digest(certPEM, keyPEM)
	if seen == r.seen {
		return
	}
	// Remember what was read even when it fails: a half-written pair
	// changes again when its writer finishes, and is parsed then.
	r.seen = seen
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		r.log.Error("TLS certificate files changed but do not load; serving the previous certificate", "err", err)
		return
	}
	r.cert.Store(cert)
	r.logLoaded("TLS certificate reloaded", cert)
}

func (r *Reloader) read() (certPEM, keyPEM []byte, err error) {
	// os.ReadFile follows the symlinks of a Secret volume.
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	return certPEM, keyPEM, nil
}

func (r *Reloader) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	return &cert, nil
}

func digest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", len(certPEM))
	h.Write(certPEM)
	h.Write(keyPEM)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (r *Reloader) logLoaded(msg string, cert *tls.Certificate) {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf == nil {
		r.log.Info(msg, "cert", r.certFile)
		return
	}
	r.log.Info(msg, "cert", r.certFile, "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(), "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
}
