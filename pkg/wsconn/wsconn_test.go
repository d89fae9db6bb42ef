package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var opts = Options{ReadTimeout: 300 * time.Millisecond, PingEvery: 50 * time.Millisecond, WriteTimeout: time.Second, MaxMessage: 1024}

// serve runs handler on the server side of a real websocket over loopback.
func serve(t *testing.T, handler func(*websocket.Conn)) *websocket.Conn {
	t.Helper()
	up := websocket.Upgrader{}
	var mu sync.Mutex
	var handlers []chan struct{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		done := make(chan struct{})
		mu.Lock()
		handlers = append(handlers, done)
		mu.Unlock()
		defer close(done)
		handler(c)
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		hs := handlers
		mu.Unlock()
		for _, d := range hs {
			<-d
		}
	})
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEchoAndPingsKeepAlive(t *testing.T) {
	client := serve(t, func(c *websocket.Conn) {
		p := New(c, opts)
		_ = p.Run(context.Background(), func(m []byte) error { return p.Send(context.Background(), append([]byte("echo:"), m...)) })
	})
	cp := New(client, opts)
	got := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx, func(m []byte) error { got <- string(m); return nil }) }()
	for i := 0; i < 3; i++ {
		cp.Send(ctx, []byte("hi"))
		// Idle longer than ReadTimeout in total (the scenario's length,
		// not a wait for a condition): pings keep both sides alive.
		<-time.After(200 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		if m := <-got; m != "echo:hi" {
			t.Fatalf("got %q", m)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if err := cp.Send(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after close: %v", err)
	}
}

func TestSilentPeerTimesOut(t *testing.T) {
	silent := make(chan struct{})
	client := serve(t, func(c *websocket.Conn) {
		// A peer that never reads cannot answer pings; it stays until
		// the test is over, so only the missing pongs can end Run.
		<-silent
	})
	defer close(silent)
	start := time.Now()
	err := New(client, opts).Run(context.Background(), func([]byte) error { return nil })
	if !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("Run = %v after %v, want a read timeout (%v)", err, time.Since(start), opts.ReadTimeout)
	}
}

func TestOversizedMessageEndsTheSession(t *testing.T) {
	serverErr := make(chan error, 1)
	client := serve(t, func(c *websocket.Conn) {
		serverErr <- New(c, opts).Run(context.Background(), func([]byte) error { return nil })
	})
	client.WriteMessage(websocket.TextMessage, make([]byte, 4096))
	select {
	case err := <-serverErr:
		if err == nil {
			t.Fatal("oversized message accepted")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("server kept the session")
	}
}

func TestHandlerErrorClosesWithReason(t *testing.T) {
	client := serve(t, func(c *websocket.Conn) {
		p := New(c, opts)
		_ = p.Run(context.Background(), func(m []byte) error {
			p.Close(4000, "bad message")
			return nil
		})
	})
	client.WriteMessage(websocket.TextMessage, []byte("x"))
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err := client.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "bad message" {
		t.Fatalf("close: %v", err)
	}
}

// A write that cannot finish in time (the peer stopped reading) ends Run
// with that write's error.
func TestStalledWriteEndsRunWithItsError(t *testing.T) {
	release := make(chan struct{})
	client := serve(t, func(c *websocket.Conn) { <-release })
	t.Cleanup(func() { close(release) })
	o := opts
	o.ReadTimeout, o.PingEvery, o.WriteTimeout = time.Minute, time.Minute, 200*time.Millisecond
	p := New(client, o)
	sent := make(chan error, 1)
	go func() {
		big := make([]byte, 1<<20)
		for {
			if err := p.Send(context.Background(), big); err != nil {
				sent <- err
				return
			}
		}
	}()
	err := p.Run(context.Background(), func([]byte) error { return nil })
	if !errors.Is(err, ErrWriteFailed) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Run = %v, want the failed write's error", err)
	}
	if err := <-sent; !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after the failure = %v, want ErrClosed", err)
	}
}

// Produce runs on the writer after Wake, after what was queued before the
// wake, and writes directly; wakes while it is busy coalesce.
func TestProduceRunsAfterQueuedMessages(t *testing.T) {
	client := serve(t, func(c *websocket.Conn) {
		n := 0
		o := opts
		var p *Peer
		o.Produce = func(write func([]byte) error) error {
			n++
			return write([]byte(fmt.Sprint("produced ", n)))
		}
		p = New(c, o)
		_ = p.Run(context.Background(), func(m []byte) error {
			// Each message from the client queues a reply and wakes.
			if err := p.Send(context.Background(), append([]byte("queued "), m...)); err != nil {
				return err
			}
			p.Wake()
			return nil
		})
	})
	for i := 1; i <= 3; i++ {
		if err := client.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{fmt.Sprint("queued ", i), fmt.Sprint("produced ", i)} {
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, m, err := client.ReadMessage()
			if err != nil || string(m) != want {
				t.Fatalf("got %q %v, want %q", m, err, want)
			}
		}
	}
}

// A peer that sends but never reads answers no ping: it is closed with
// ErrReadTimeout although its messages keep arriving.
func TestPeerThatNeverReadsIsClosed(t *testing.T) {
	got := make(chan error, 1)
	client := serve(t, func(c *websocket.Conn) {
		got <- New(c, opts).Run(context.Background(), func([]byte) error { return nil })
	})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if client.WriteMessage(websocket.TextMessage, []byte("beat")) != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-got:
		if !errors.Is(err, ErrReadTimeout) || !strings.Contains(err.Error(), "no pong") {
			t.Fatalf("Run = %v, want a read timeout for the missing pongs", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a peer that never reads was kept")
	}
}
