package portshare

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveEcho answers every request on ln with the server's name and the
// request's path.
func serveEcho(t *testing.T, ln net.Listener, name string) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.URL.Path)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

func split(t *testing.T, timeout time.Duration) (addr string, matched, rest net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	matched, rest = Split(ln, timeout, func(line []byte) bool { return bytes.HasPrefix(line, []byte("GET /tunnel ")) })
	return ln.Addr().String(), matched, rest
}

func TestRoutesByRequestLine(t *testing.T) {
	addr, matched, rest := split(t, 5*time.Second)
	serveEcho(t, matched, "tunnel")
	serveEcho(t, rest, "api")
	for path, want := range map[string]string{"/tunnel": "tunnel /tunnel", "/v1/user": "api /v1/user", "/tunnelx": "api /tunnelx"} {
		// A fresh connection each, as a websocket dial makes.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("GET %s answered %q, want %q", path, b, want)
		}
	}
}

// A request line that arrives in pieces, and a long one, are routed whole
// and reach the server unchanged.
func TestRequestLineInPieces(t *testing.T) {
	addr, matched, rest := split(t, 5*time.Second)
	serveEcho(t, matched, "tunnel")
	serveEcho(t, rest, "api")
	long := "/" + strings.Repeat("x", 3000)
	for _, path := range []string{"/tunnel", long} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		for i := 0; i < len(req); i += 7 {
			if _, err := io.WriteString(c, req[i:min(i+7, len(req))]); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if want := map[bool]string{true: "tunnel ", false: "api "}[path == "/tunnel"] + path; string(b) != want {
			t.Errorf("answered %.40q, want %.40q", b, want)
		}
	}
}

// A client that sends no request line is closed at the deadline, and holds
// up no other client meanwhile.
func TestSilentClientIsClosed(t *testing.T) {
	addr, matched, rest := split(t, 300*time.Millisecond)
	serveEcho(t, matched, "tunnel")
	serveEcho(t, rest, "api")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.WriteString(silent, "GET /tun")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/v1")
	if err != nil {
		t.Fatalf("a silent client held up another: %v", err)
	}
	resp.Body.Close()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		t.Fatalf("silent client not closed: %v", err)
	}
}

// Closing both sides closes the listener; Accept then fails on each.
func TestCloseBothClosesListener(t *testing.T) {
	addr, matched, rest := split(t, time.Second)
	matched.Close()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Fatalf("one side closed, the listener should still accept: %v", err)
	}
	rest.Close()
	if _, err := matched.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after both sides closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failingListener fails its first Accepts as a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, errors.New("accept4: too many open files")
	}
	return l.Listener.Accept()
}

// Accept errors that are not a closed listener are waited out: the servers
// go on.
func TestAcceptErrorsAreWaitedOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(3)
	matched, rest := Split(fl, 5*time.Second, func([]byte) bool { return false })
	serveEcho(t, matched, "tunnel")
	serveEcho(t, rest, "api")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/v1")
	if err != nil {
		t.Fatalf("after failed accepts: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "api /v1" {
		t.Fatalf("answered %q", b)
	}
}
