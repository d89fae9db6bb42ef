// Package e2e drives the real hub binary over HTTP, as a user would.
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
	"sync"
	"syscall"
	"testing"
	"time"
)

var hubBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ote-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubBin = filepath.Join(dir, "hub")
	build := exec.Command("go", "build", "-o", hubBin, "github.com/ote-stack/ote/hub/cmd/hub")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hub:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hubProc is one running hub binary.
type hubProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	output bytes.Buffer
	exited chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHub runs the binary with args and waits until /readyz answers.
func startHub(t *testing.T, args ...string) *hubProc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(hubBin, append([]string{"--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), "OTE_LOG_LEVEL=debug")
	h := &hubProc{t: t, cmd: cmd, url: "http://" + addr, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			h.mu.Lock()
			h.output.WriteString(sc.Text() + "\n")
			h.mu.Unlock()
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { h.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(h.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		select {
		case err := <-h.exited:
			t.Fatalf("hub exited before it was ready: %v\n%s", err, h.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready after 30s:\n%s", h.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *hubProc) logs() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.output.String()
}

// stop sends SIGTERM and expects a clean exit.
func (h *hubProc) stop() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.exited:
		if err != nil {
			h.t.Errorf("hub did not exit cleanly on SIGTERM: %v\n%s", err, h.logs())
		}
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		h.t.Errorf("hub did not stop within 20s of SIGTERM")
	}
}

type envelope struct {
	status  int
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Total   *int64          `json:"total"`
}

func (h *hubProc) call(method, path, token string, body any) envelope {
	h.t.Helper()
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e envelope
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &e); err != nil {
		h.t.Fatalf("%s %s: not an envelope: %s", method, path, raw)
	}
	e.status = resp.StatusCode
	return e
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
