// Package e2e drives the real hub and agent binaries, as a user would, against
// a real kube-apiserver from the test harness.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ote-stack/ote/test/apicheck"
)

var hubBin, agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ote-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubBin, agentBin, otectlBin = filepath.Join(dir, "hub"), filepath.Join(dir, "agent"), filepath.Join(dir, "otectl")
	for bin, pkg := range map[string]string{hubBin: "./hub/cmd/hub", agentBin: "./agent/cmd/agent", otectlBin: "./hub/cmd/otectl"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running binary whose output is kept.
type proc struct {
	t       testing.TB
	name    string
	metrics string // an agent's --metrics-listen address
	cmd     *exec.Cmd
	mu      sync.Mutex
	output  bytes.Buffer
	exited  chan error
}

func startProc(t testing.TB, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return startCmd(t, name, cmd, env)
}

// startCmd starts a prepared command (one that runs in a fault.Site, say)
// as startProc does.
func startCmd(t testing.TB, name string, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.output.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tailOf(p.logs(), 6000))
		}
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // if a test paused it
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Errorf("%s did not exit cleanly on SIGTERM: %v", p.name, err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

// kill ends the process at once, as a crash would.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// pause stops the process (SIGSTOP): its connections stay open, nothing
// answers.
func (p *proc) pause() { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }

// resume continues a paused process.
func (p *proc) resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

// waitLog waits until the output matches re.
func (p *proc) waitLog(re string) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for !rx.MatchString(p.logs()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never logged %q", p.name, re)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hubProc is a running hub binary.
type hubProc struct {
	*proc
	url  string
	addr string
	// registry is the embedded registry's address (host:port), if any.
	registry string
	// client calls the API (http.DefaultClient when nil).
	client *http.Client
	// spec is the OpenAPI description this hub serves: every answer of
	// try is checked against it.
	spec *apicheck.Checker
}

func (h *hubProc) httpClient() *http.Client {
	if h.client != nil {
		return h.client
	}
	return http.DefaultClient
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHub runs the hub binary on addr (a free port when empty) and waits
// until /readyz answers and, with an embedded registry, until its address
// has been read from the log.
func startHub(t testing.TB, addr string, args ...string) *hubProc {
	t.Helper()
	return startHubWith(t, addr, nil, args...)
}

// startHubWith is startHub for a hub that serves HTTPS (its --tls-cert
// signed by a CA in client's transport) when client is not nil.
func startHubWith(t testing.TB, addr string, client *http.Client, args ...string) *hubProc {
	t.Helper()
	if addr == "" {
		addr = freePort(t)
	}
	if !slices.Contains(args, "--registry-listen") {
		// Tests run side by side: no fixed registry port.
		args = append(args, "--registry-listen", "127.0.0.1:0")
	}
	p := startProc(t, "hub", hubBin, []string{"OTE_LOG_LEVEL=debug"}, append([]string{"--listen", addr}, args...)...)
	// A hub on all addresses (for agents in fault sites) is called on
	// loopback.
	local := strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
	h := &hubProc{proc: p, url: "http://" + local, addr: addr, client: client}
	if client != nil {
		h.url = "https://" + local
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := h.httpClient().Get(h.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				spec, err := apicheck.Fetch(h.httpClient(), h.url)
				if err != nil {
					t.Fatalf("the hub's OpenAPI description: %v", err)
				}
				h.spec = spec
				if i := slices.Index(args, "--registry-listen"); i < 0 || i+1 >= len(args) || args[i+1] != "off" {
					// The hub logs the registry's address before its API
					// listens, but the line may still be in the pipe: wait
					// for it rather than read what has arrived so far.
					p.waitLog(`embedded registry listening.* addr=\S+`)
					h.registry = regexpFind(`embedded registry listening.* addr=(\S+)`, p.logs())
				}
				return h
			}
		}
		select {
		case err := <-p.exited:
			t.Fatalf("hub exited before it was ready: %v\n%s", err, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready after 30s:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type envelope struct {
	status         int
	header         http.Header
	Code           int             `json:"code"`
	Message        string          `json:"message"`
	Data           json.RawMessage `json:"data"`
	Total          *int64          `json:"total"`
	ReadyNodeCount *int64          `json:"readyNodeCount"`
}

func (h *hubProc) call(method, path, token string, body any) envelope {
	h.t.Helper()
	e, err := h.try(method, path, token, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return e
}

// try is call for a request that may get no answer (the hub dies while it
// handles it): the error instead of a failed test.
func (h *hubProc) try(method, path, token string, body any) (envelope, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, h.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return envelope{}, err
	}
	defer resp.Body.Close()
	var e envelope
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return envelope{}, err
	}
	if h.spec != nil { // nil until a hub started by hand is ready
		if err := h.spec.Check(req, resp.StatusCode, resp.Header, raw); err != nil {
			h.t.Errorf("%v", err)
		}
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return envelope{}, fmt.Errorf("not an envelope (%d): %s", resp.StatusCode, raw)
	}
	e.status = resp.StatusCode
	e.header = resp.Header
	return e, nil
}

func (h *hubProc) must(want int, method, path, token string, body any) envelope {
	h.t.Helper()
	e := h.call(method, path, token, body)
	if e.status != want {
		h.t.Fatalf("%s %s: %d %s, want %d", method, path, e.status, e.Message, want)
	}
	return e
}

func (h *hubProc) login(user, pw string) string {
	h.t.Helper()
	var d struct{ Token string }
	json.Unmarshal(h.must(200, "POST", "/v1/authorization", "", map[string]string{"user": user, "password": pw}).Data, &d)
	return d.Token
}

func (h *hubProc) role(tok string) int {
	h.t.Helper()
	var d struct{ Role int }
	json.Unmarshal(h.must(200, "GET", "/v1/authorization", tok, nil).Data, &d)
	return d.Role
}

var printedPassword = regexp.MustCompile(`password: (\S+)`)

// runHub runs the binary to completion and returns its output.
func runHub(args ...string) (string, error) {
	out, err := exec.Command(hubBin, args...).CombinedOutput()
	return string(out), err
}

// eventually retries cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func regexpFind(re, s string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// metric reads the value of an unlabelled series from the /metrics at url,
// -1 when it cannot be read (yet).
func metric(url, name string) int {
	fams, err := parseMetrics(url)
	if err != nil {
		return -1
	}
	v, ok := value(fams, name, nil)
	if !ok {
		return -1
	}
	return int(v)
}
