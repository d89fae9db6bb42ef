package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/test/harness"
)

// testCA signs server certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "OTE e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a server certificate for 127.0.0.1 with serial, and its
// key, over certFile and keyFile (in place, as a renewal does).
func (c *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "hub.e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
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

// servedSerial is the serial number of the certificate that a new TLS
// connection to addr is shown.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS handshake with the hub: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestHubTLS: the hub serves its API and the agents' tunnel over TLS with
// --tls-cert/--tls-key; an agent given the CA with --hub-ca joins, opens
// its websocket over wss and reports its nodes; an agent without the CA is
// refused by its own certificate check; a certificate renewed in place is
// served to new connections without a restart.
func TestHubTLS(t *testing.T) {
	dir := t.TempDir()
	authority := newTestCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	authority.issue(t, 1001, certFile, keyFile)
	if err := os.WriteFile(caFile, authority.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "tls-node-1", 4, 16, 50, 0, "", true, "10.0.1.1")
	fakeNode(t, cs, "tls-node-2", 2, 8, 20, 0, "", true, "10.0.1.2")

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: authority.pool}
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	h := startHubWith(t, "", client, "--data-dir", filepath.Join(dir, "data"), "--admin-password", "Root-pass1",
		"--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(h.logs(), "api=https://") {
		t.Fatalf("the hub does not announce an https API:\n%s", h.logs())
	}
	root := h.login("admin", "Root-pass1")
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + h.addr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %d", resp.StatusCode)
		}
	}

	agentArgs := []string{"--hub-url", h.url, "--hub-ca", caFile, "--cluster-name", "edge-tls", "--bootstrap-token", bootstrap,
		"--kubeconfig", api.Kubeconfig, "--metrics-listen", freePort(t)}
	agent := startProc(t, "agent tls", agentBin, []string{"OTE_LOG_LEVEL=debug"}, agentArgs...)
	eventually(t, 60*time.Second, "edge-tls ready with its two nodes over TLS", func() bool {
		ns := h.nodes(root, "clusterName=edge-tls")
		return len(ns) == 2 && ns[0].IsReady && ns[1].IsReady && h.clusterReady(root, "edge-tls")
	})

	// Without the CA the agent does not trust the hub: it says why and
	// never joins.
	untrusting := startProc(t, "agent without CA", agentBin, []string{"OTE_LOG_LEVEL=debug"},
		"--hub-url", h.url, "--cluster-name", "edge-noca", "--bootstrap-token", bootstrap,
		"--kubeconfig", api.Kubeconfig, "--credential-secret", "ote-system/edge-noca-credential", "--metrics-listen", freePort(t))
	untrusting.waitLog(`tunnel down; reconnecting.*certificate signed by unknown authority`)
	var clusters []clusterView
	json.Unmarshal(h.must(200, "GET", "/v1/cluster", root, nil).Data, &clusters)
	for _, c := range clusters {
		if c.ClusterName == "edge-noca" {
			t.Fatalf("an agent that does not trust the hub joined: %+v", c)
		}
	}

	// Renewed in place (as cert-manager does): new connections get the new
	// certificate, the hub keeps running, the API keeps answering.
	if got := servedSerial(t, h.addr, authority.pool); got != 1001 {
		t.Fatalf("served serial %d, want 1001", got)
	}
	authority.issue(t, 1002, certFile, keyFile)
	eventually(t, 30*time.Second, "the renewed certificate on new connections", func() bool {
		return servedSerial(t, h.addr, authority.pool) == 1002
	})
	h.waitLog(`TLS certificate reloaded.* serial=1002`)
	client.CloseIdleConnections()
	if !h.clusterReady(root, "edge-tls") {
		t.Fatal("edge-tls not ready after the renewal")
	}
	// The agent's next tunnel is made under the renewed certificate.
	agent.stop()
	startProc(t, "agent tls again", agentBin, []string{"OTE_LOG_LEVEL=debug"}, agentArgs...)
	eventually(t, 30*time.Second, "a second tunnel of edge-tls", func() bool {
		return strings.Count(h.logs(), `msg="agent connected" cluster=edge-tls `) == 2
	})
	select {
	case err := <-h.exited:
		t.Fatalf("the hub exited: %v", err)
	default:
	}
}

// TestHubTLSRefusals: a certificate without its key is an invalid option,
// and a pair that does not load stops the hub before it listens.
func TestHubTLSRefusals(t *testing.T) {
	dir := t.TempDir()
	out, err := runHub("--data-dir", dir, "--tls-cert", filepath.Join(dir, "tls.crt"))
	if err == nil || !strings.Contains(out, "--tls-cert and --tls-key go together") {
		t.Fatalf("a certificate without its key: %v\n%s", err, out)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runHub("--data-dir", filepath.Join(dir, "data"), "--listen", freePort(t), "--registry-listen", "off",
		"--admin-password", "Root-pass1", "--tls-cert", junk, "--tls-key", junk)
	if err == nil || !strings.Contains(out, "TLS certificate") || strings.Contains(out, "hub listening") {
		t.Fatalf("a pair that does not load: %v\n%s", err, out)
	}
}
