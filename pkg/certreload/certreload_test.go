package certreload

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ca signs server certificates for 127.0.0.1.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert: cert, key: key, pool: pool}
}

// issue writes a server certificate with serial into certFile and its key
// into keyFile, in place.
func (c *ca) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "hub.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve accepts TLS connections with cfg until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// served is the serial of the certificate a new connection is shown.
func served(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// syncBuffer is a log sink that the server's goroutine may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReloadInPlace(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	authority := newCA(t)
	authority.issue(t, 100, certFile, keyFile)
	var logs syncBuffer
	r, err := New(certFile, keyFile, Options{CheckEvery: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.TLSConfig())
	if got := served(t, addr, authority.pool); got != 100 {
		t.Fatalf("first handshake serves serial %d, want 100", got)
	}

	// Renewed in place: the next handshake serves the new pair.
	authority.issue(t, 101, certFile, keyFile)
	if got := served(t, addr, authority.pool); got != 101 {
		t.Fatalf("after renewal the handshake serves serial %d, want 101", got)
	}

	// A broken certificate keeps the last good pair, and says so once.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := served(t, addr, authority.pool); got != 101 {
			t.Fatalf("with a broken file the handshake serves serial %d, want 101", got)
		}
	}
	if n := bytes.Count([]byte(logs.String()), []byte("do not load")); n != 1 {
		t.Fatalf("the broken pair is logged %d times, want once:\n%s", n, logs.String())
	}
	// A key that does not match the certificate is refused the same way.
	authority.issue(t, 102, certFile, filepath.Join(dir, "other.key"))
	if got := served(t, addr, authority.pool); got != 101 {
		t.Fatalf("with a mismatched key the handshake serves serial %d, want 101", got)
	}
	if n := bytes.Count([]byte(logs.String()), []byte("do not load")); n != 2 {
		t.Fatalf("the mismatched pair is not logged:\n%s", logs.String())
	}
	// A missing file is logged, and the pair kept.
	os.Remove(keyFile)
	if got := served(t, addr, authority.pool); got != 101 {
		t.Fatalf("with the key missing the handshake serves serial %d, want 101", got)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("unreadable")) {
		t.Fatalf("the missing key is not logged:\n%s", logs.String())
	}

	// Repaired: served again.
	authority.issue(t, 103, certFile, keyFile)
	if got := served(t, addr, authority.pool); got != 103 {
		t.Fatalf("after repair the handshake serves serial %d, want 103", got)
	}
}

func TestChecksAtMostEveryInterval(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	authority := newCA(t)
	authority.issue(t, 1, certFile, keyFile)
	now := time.Unix(1_700_000_000, 0)
	r, err := New(certFile, keyFile, Options{CheckEvery: 5 * time.Second, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		c, err := r.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	authority.issue(t, 2, certFile, keyFile)
	now = now.Add(4 * time.Second)
	if got := serial(); got != 1 {
		t.Fatalf("files read again within the interval: serial %d", got)
	}
	now = now.Add(time.Second)
	if got := serial(); got != 2 {
		t.Fatalf("files not read again after the interval: serial %d", got)
	}
}

func TestNewRefusesABrokenPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := New(certFile, keyFile, Options{}); err == nil {
		t.Fatal("missing files accepted")
	}
	os.WriteFile(certFile, []byte("junk"), 0o600)
	os.WriteFile(keyFile, []byte("junk"), 0o600)
	if _, err := New(certFile, keyFile, Options{}); err == nil {
		t.Fatal("junk accepted")
	}
}

// TestConcurrentHandshakes: handshakes during a renewal all get a pair,
// the old or the new one (run with -race).
func TestConcurrentHandshakes(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	authority := newCA(t)
	authority.issue(t, 1, certFile, keyFile)
	r, err := New(certFile, keyFile, Options{CheckEvery: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				c, err := r.GetCertificate(&tls.ClientHelloInfo{})
				if err != nil || c == nil || c.Leaf == nil {
					t.Errorf("handshake got %v, %v", c, err)
					return
				}
			}
		}()
	}
	for serial := int64(2); serial < 6; serial++ {
		authority.issue(t, serial, certFile, keyFile)
	}
	wg.Wait()
	// Once the writer is done, the next look finds the last pair.
	if c, _ := r.GetCertificate(&tls.ClientHelloInfo{}); c.Leaf.SerialNumber.Int64() != 5 {
		t.Fatalf("after the renewals: serial %d, want 5", c.Leaf.SerialNumber.Int64())
	}
}
