// Package harness runs a real kube-apiserver for tests: kube-apiserver and
// kine (the etcd API on SQLite), both built from the Go module proxy by
// test/k8s/build.sh and cached outside the work tree, started on loopback
// with token authentication. No Docker, no kind, no kubelet: tests create
// Nodes and Pods with their status themselves.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Binaries builds (once per machine, then cached) kube-apiserver and kine and
// returns the directory that holds them.
func Binaries() (string, error) {
	binOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "k8s", "build.sh")
		var out, errb bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&errb, os.Stderr)
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("build kube-apiserver and kine: %v: %s", err, errb.String())
			return
		}
		binDir = strings.TrimSpace(out.String())
	})
	return binDir, binErr
}

// APIServer is a running kube-apiserver with its kine.
type APIServer struct {
	// URL is the secure address, https://127.0.0.1:port.
	URL string
	// Token authenticates as a member of system:masters.
	Token string
	// Config is a client configuration for URL and Token.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same.
	Kubeconfig string

	dir   string
	ca    []byte
	names map[string]int // program name to index in procs
	procs []*exec.Cmd
	done  []chan struct{}
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 { // keep the tail bounded
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logs returns what kine and kube-apiserver printed (the recent part).
func (a *APIServer) Logs() string { return a.logs.String() }

// Clientset returns a typed client.
func (a *APIServer) Clientset() *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(a.Config)
}

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Logf(format string, args ...any)
	Failed() bool
}

// Options change how the API server is started.
type Options struct {
	// ListenAll binds kube-apiserver to every address of the test's
	// network namespace, not only loopback, so that agents in network
	// namespaces of their own (test/fault's sites) reach it; give them
	// KubeconfigVia.
	ListenAll bool
}

// Start runs a fresh API server for a test and stops it when the test ends.
func Start(t TB) *APIServer {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t TB, opts Options) *APIServer {
	t.Helper()
	a, err := startIn(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := a.Logs()
			if len(logs) > 4000 {
				logs = logs[len(logs)-4000:]
			}
			t.Logf("kube-apiserver and kine output (tail):\n%s", logs)
		}
		a.Stop()
	})
	return a
}

// StartIn runs kine and kube-apiserver with their state under dir and waits
// until the API server is ready.
func StartIn(ctx context.Context, dir string) (*APIServer, error) {
	return startIn(ctx, dir, Options{})
}

func startIn(ctx context.Context, dir string, opts Options) (*APIServer, error) {
	bins, err := Binaries()
	if err != nil {
		return nil, err
	}
	a := &APIServer{dir: dir, logs: &lockedBuffer{}, names: map[string]int{}}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	a.Token = hex.EncodeToString(tok)
	if err := writeFiles(dir, a.Token); err != nil {
		return nil, err
	}

	etcdAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := a.spawn(filepath.Join(bins, "kine"),
		"--listen-address", etcdAddr,
		"--endpoint", "sqlite://"+filepath.Join(dir, "kine.db")+"?_journal=WAL&cache=shared&_busy_timeout=30000",
		"--metrics-bind-address", "0",
	); err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, etcdAddr, 30*time.Second); err != nil {
		a.Stop()
		return nil, fmt.Errorf("kine did not listen: %w\n%s", err, a.Logs())
	}

	apiAddr, err := freeAddr()
	if err != nil {
		a.Stop()
		return nil, err
	}
	_, port, _ := net.SplitHostPort(apiAddr)
	bind := "127.0.0.1"
	if opts.ListenAll {
		bind = "0.0.0.0"
	}
	if err := a.spawn(filepath.Join(bins, "kube-apiserver"),
		"--etcd-servers", "http://"+etcdAddr,
		"--bind-address", bind,
		"--advertise-address", "127.0.0.1",
		"--secure-port", port,
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller manager runs, so no default service accounts exist.
		// PodSecurity, on by default, stays on: business namespaces' Pod
		// Security Admission labels are enforced here as in a real cluster.
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type", "none",
		"--allow-privileged=true",
		"--profiling=false",
	); err != nil {
		a.Stop()
		return nil, err
	}
	a.URL = "https://" + apiAddr
	if err := a.waitReady(ctx, 90*time.Second); err != nil {
		a.Stop()
		return nil, fmt.Errorf("kube-apiserver not ready: %w\n%s", err, tail(a.Logs(), 3000))
	}
	ca, err := os.ReadFile(filepath.Join(dir, "certs", "apiserver.crt"))
	if err != nil {
		a.Stop()
		return nil, err
	}
	a.ca = ca
	a.Config = &rest.Config{Host: a.URL, BearerToken: a.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: 200, Burst: 400}
	a.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["harness"] = &clientcmdapi.Cluster{Server: a.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: a.Token}
	kc.Contexts["harness"] = &clientcmdapi.Context{Cluster: "harness", AuthInfo: "admin"}
	kc.CurrentContext = "harness"
	if err := clientcmd.WriteToFile(*kc, a.Kubeconfig); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

func (a *APIServer) spawn(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.names[filepath.Base(bin)] = len(a.procs)
	a.procs = append(a.procs, cmd)
	a.done = append(a.done, done)
	return nil
}

// KubeconfigVia writes a kubeconfig that reaches the API server at host
// (an address of this namespace that the client routes to, such as a
// site's LAN.OuterIP, with ListenAll) and returns its path. The server's
// certificate is checked as for 127.0.0.1, its advertised address.
func (a *APIServer) KubeconfigVia(host string) (string, error) {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.URL, "https://"))
	kc := clientcmdapi.NewConfig()
	kc.Clusters["harness"] = &clientcmdapi.Cluster{Server: "https://" + net.JoinHostPort(host, port), CertificateAuthorityData: a.ca, TLSServerName: "127.0.0.1"}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: a.Token}
	kc.Contexts["harness"] = &clientcmdapi.Context{Cluster: "harness", AuthInfo: "admin"}
	kc.CurrentContext = "harness"
	path := filepath.Join(a.dir, "kubeconfig-"+host)
	return path, clientcmd.WriteToFile(*kc, path)
}

// Process is the running "kine" or "kube-apiserver", for a test to pause
// (SIGSTOP), continue or kill; nil when there is none.
func (a *APIServer) Process(name string) *os.Process {
	i, ok := a.names[name]
	if !ok || i >= len(a.procs) {
		return nil
	}
	return a.procs[i].Process
}

// Stop terminates kube-apiserver, then kine, and waits for both.
func (a *APIServer) Stop() {
	for i := len(a.procs) - 1; i >= 0; i-- {
		_ = a.procs[i].Process.Signal(syscall.SIGTERM)
		_ = a.procs[i].Process.Signal(syscall.SIGCONT) // if a test paused it
		select {
		case <-a.done[i]:
		case <-time.After(15 * time.Second):
			_ = a.procs[i].Process.Kill()
			<-a.done[i]
		}
	}
	a.procs, a.done = nil, nil
}

func (a *APIServer) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		for _, d := range a.done {
			select {
			case <-d:
				return errors.New("a process exited")
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+a.Token)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, tail(string(b), 500))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("timed out after %v: %s", timeout, last)
}

func writeFiles(dir, token string) error {
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not listening after %v", addr, timeout)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
