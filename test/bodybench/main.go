// Command bodybench measures the hub's memory under oversized request
// bodies and chart gzip bombs: it starts the real hub binary, samples its
// resident memory (/proc/<pid>/status VmRSS, every 5 ms) and prints the
// idle figure and the peak of each scenario.
//
//	go run ./test/bodybench [-hub-bin PATH] [-n 20] [-bombs 6]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const adminPass = "Bench-pass1"

func main() {
	hubBin := flag.String("hub-bin", "", "hub binary (default: built from ./hub/cmd/hub)")
	n := flag.Int("n", 20, "parallel oversized requests")
	bombs := flag.Int("bombs", 6, "parallel chart uploads of a gzip bomb")
	size := flag.Int("size", 8<<20, "bytes of each oversized body")
	flag.Parse()
	if err := run(*hubBin, *n, *bombs, *size); err != nil {
		fmt.Fprintln(os.Stderr, "bodybench:", err)
		os.Exit(1)
	}
}

type hubProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startHub(bin, dir string) (*hubProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--listen", addr, "--registry-listen", "off", "--data-dir", dir,
		"--admin-password", adminPass, "--log-level", "error")
	logf, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hubProcess{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(h.done) }()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if resp, err := http.Get(h.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h, nil
			}
		}
		select {
		case <-h.done:
			return nil, fmt.Errorf("hub exited; see %s", filepath.Join(dir, "hub.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, errors.New("hub not ready")
}

func (h *hubProcess) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

// status reads a field of /proc/<pid>/status in bytes.
func (h *hubProcess) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakDuring samples VmRSS while fn runs and returns the highest sample.
func (h *hubProcess) peakDuring(fn func()) int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if r := h.status("VmRSS"); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	time.Sleep(200 * time.Millisecond) // what the hub still holds just after
	close(stop)
	<-sampled
	return peak.Load()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func run(bin string, n, bombs, size int) error {
	work, err := os.MkdirTemp("", "bodybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin == "" {
		bin = filepath.Join(work, "hub")
		build := exec.Command("go", "build", "-o", bin, "./hub/cmd/hub")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build hub: %w", err)
		}
	}
	h, err := startHub(bin, work)
	if err != nil {
		return err
	}
	defer h.stop()
	member, err := setUp(h.url)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	idle := h.status("VmRSS")
	fmt.Printf("hub idle: VmRSS %s\n", mib(idle))

	body := bytes.Repeat([]byte("a"), size)
	scenarios := []struct {
		name string
		req  func() (*http.Request, error)
	}{
		{fmt.Sprintf("%d parallel %d-byte bodies, Content-Length, POST /v1/authorization (no token)", n, size), func() (*http.Request, error) {
			return http.NewRequest("POST", h.url+"/v1/authorization", bytes.NewReader(body))
		}},
		{fmt.Sprintf("%d parallel %d-byte bodies, chunked, POST /v1/user (no token)", n, size), func() (*http.Request, error) {
			return http.NewRequest("POST", h.url+"/v1/user", io.NopCloser(bytes.NewReader(body)))
		}},
		{fmt.Sprintf("%d parallel %d-byte bodies, POST /v1/app/chart without a token", n, size), func() (*http.Request, error) {
			r, err := http.NewRequest("POST", h.url+"/v1/app/chart", bytes.NewReader(body))
			if err == nil {
				r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			}
			return r, err
		}},
		{fmt.Sprintf("%d parallel %d-byte bodies, POST /v1/app with a token (over --body-limit)", n, size), func() (*http.Request, error) {
			r, err := http.NewRequest("POST", h.url+"/v1/app", bytes.NewReader(body))
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+member)
			}
			return r, err
		}},
	}
	for _, sc := range scenarios {
		statuses := map[string]int{}
		peak := h.peakDuring(func() { statuses = parallel(n, sc.req) })
		fmt.Printf("%s: peak VmRSS %s (+%s over idle); answers %v\n", sc.name, mib(peak), mib(peak-idle), statuses)
	}

	bomb, unpacked := gzipBomb()
	statuses := map[string]int{}
	peak := h.peakDuring(func() {
		statuses = parallel(bombs, func() (*http.Request, error) { return chartUpload(h.url, member, bomb) })
	})
	fmt.Printf("%d parallel chart uploads of a %d-byte gzip bomb (%d bytes unpacked): peak VmRSS %s (+%s over idle); answers %v\n",
		bombs, len(bomb), unpacked, mib(peak), mib(peak-idle), statuses)
	fmt.Printf("hub VmHWM (peak since start): %s\n", mib(h.status("VmHWM")))
	return nil
}

// parallel sends n requests at once and counts the answers by status (or
// by the client's error when the hub closed the connection first).
func parallel(n int, mk func() (*http.Request, error)) map[string]int {
	var mu sync.Mutex
	out := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := ""
			req, err := mk()
			if err == nil {
				if req.Header.Get("Content-Type") == "" {
					req.Header.Set("Content-Type", "application/json")
				}
				var resp *http.Response
				if resp, err = http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = strconv.Itoa(resp.StatusCode)
				}
			}
			if err != nil {
				key = "connection closed by the hub"
			}
			mu.Lock()
			out[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// setUp creates a business whose administrator uploads charts, and returns
// its token.
func setUp(url string) (string, error) {
	call := func(method, path, token string, body any) (json.RawMessage, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var env struct {
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, env.Message)
		}
		return env.Data, nil
	}
	login := func(user, pw string) (string, error) {
		d, err := call("POST", "/v1/authorization", "", map[string]string{"user": user, "password": pw})
		var t struct{ Token string }
		_ = json.Unmarshal(d, &t)
		return t.Token, err
	}
	root, err := login("admin", adminPass)
	if err != nil {
		return "", err
	}
	d, err := call("POST", "/v1/user", "", map[string]any{"user": "bench", "password": "Bench-pass2", "phone": "12345", "isAdmin": true, "realName": "Bench"})
	if err != nil {
		return "", err
	}
	var u struct{ ID uint64 }
	_ = json.Unmarshal(d, &u)
	if _, err := call("PUT", fmt.Sprintf("/v1/admin/user/%d", u.ID), root, map[string]int{"status": 1}); err != nil {
		return "", err
	}
	tok, err := login("bench", "Bench-pass2")
	if err != nil {
		return "", err
	}
	d, err = call("POST", "/v1/business", tok, map[string]string{"name": "bench", "introduce": "x", "objective": "y", "scale": "z"})
	if err != nil {
		return "", err
	}
	var b struct{ ID uint64 }
	_ = json.Unmarshal(d, &b)
	if _, err := call("PUT", fmt.Sprintf("/v1/business/id/%d", b.ID), root, map[string]any{"status": 1, "comment": "ok"}); err != nil {
		return "", err
	}
	return tok, nil
}

// gzipBomb is a chart archive of about 100 KB that unpacks to 100 MiB of
// zeros in one template.
func gzipBomb() ([]byte, int) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(body)
	}
	add("bomb/Chart.yaml", []byte("apiVersion: v2\nname: bomb\nversion: 1.0.0\n"))
	zeros := make([]byte, 100<<20)
	add("bomb/templates/zeros.yaml", zeros)
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes(), len(zeros)
}

func chartUpload(url, token string, archive []byte) (*http.Request, error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("appName", "bomb")
	_ = w.WriteField("version", "1.0")
	fw, _ := w.CreateFormFile("chart", "bomb.tgz")
	_, _ = fw.Write(archive)
	_ = w.Close()
	req, err := http.NewRequest("POST", url+"/v1/app/chart", &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}
