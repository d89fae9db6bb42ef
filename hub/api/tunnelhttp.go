package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/pkg/portshare"
	"github.com/ote-stack/ote/protocol"
)

// Server is the hub's HTTP side: the REST API (fiber) and the agents'
// websocket tunnel (net/http and gorilla/websocket), which Serve serves on
// one listener. The tunnel is served apart because a session lives for
// days: a net/http connection hijacked by gorilla keeps only the socket,
// a 1 KiB read buffer and the goroutine that reads, and writes through a
// buffer pooled while the session is idle, where a hijacked fasthttp
// connection keeps its whole request context and buffers.
type Server struct {
	*fiber.App
	tunnel *http.Server
}

// requestLineTimeout bounds the wait for a connection's first request line,
// which decides which server it goes to.
const requestLineTimeout = 10 * time.Second

// Serve serves the API and the tunnel on ln until Shutdown (or ln fails).
func (s *Server) Serve(ln net.Listener) error {
	tunLn, apiLn := portshare.Split(ln, requestLineTimeout, isTunnelRequest)
	tunErr := make(chan error, 1)
	go func() { tunErr <- s.tunnel.Serve(tunLn) }() // ends with Shutdown or Close below
	err := s.App.Listener(apiLn)
	_ = s.tunnel.Close()
	if terr := <-tunErr; err == nil && !errors.Is(terr, http.ErrServerClosed) {
		err = terr
	}
	return err
}

// StopTunnels stops accepting tunnels: a graceful shutdown calls it before
// it ends the sessions, so that agents told to come back later do not
// reconnect to the stopping hub meanwhile (each such dial would cost it an
// upgrade and a credential check before its refusal).
func (s *Server) StopTunnels(ctx context.Context) error {
	return s.tunnel.Shutdown(ctx)
}

// ShutdownWithTimeout stops accepting tunnels and API requests and waits,
// within timeout, for the API's requests to finish. Open tunnel sessions
// are the tunnel hub's to end (tunnel.Hub.Stop).
func (s *Server) ShutdownWithTimeout(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	terr := s.tunnel.Shutdown(ctx)
	if err := s.App.ShutdownWithTimeout(timeout); err != nil {
		return err
	}
	return terr
}

// isTunnelRequest: a GET of the tunnel path, with or without a query.
func isTunnelRequest(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("GET "+protocol.TunnelPath))
	return ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '?')
}

// newTunnelServer is the net/http server of the tunnel's upgrade requests.
func (s *server) newTunnelServer() *http.Server {
	up := &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		// Agents are no browsers, and a browser cannot send the
		// credential header a tunnel needs.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != protocol.TunnelPath {
			s.httpError(w, r, errorf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
			return
		}
		peer, _, _ := net.SplitHostPort(r.RemoteAddr)
		ip := s.clientAddr(peer, r.Header.Get)
		cl, err := s.admitAgent(r.Context(), ip, r.Header.Get(protocol.HeaderCluster), bearerToken(r.Header.Get(fiber.HeaderAuthorization)))
		if err != nil {
			s.httpError(w, r, err)
			return
		}
		if !websocket.IsWebSocketUpgrade(r) {
			s.httpError(w, r, errorf(http.StatusUpgradeRequired, "the tunnel is a websocket: send an upgrade request"))
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			s.log.Debug("tunnel upgrade failed", "cluster", cl.Name, "remote", ip, "err", err)
			return // Upgrade has answered
		}
		// The session runs on a goroutine of its own, the tunnel hub's
		// (Stop waits for it), so that net/http's connection goroutine
		// returns and lets go of the request and of its 4 KiB read and
		// write buffers, which it would otherwise hold for the session's
		// life.
		go s.cfg.Tunnel.Serve(conn, cl)
	})
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// httpError answers err as handleError does for the API: status, envelope
// and Retry-After.
func (s *server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg, retry := refusal(err)
	setRetryAfter(w.Header().Set, retry)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	}
	w.Header().Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Code: status, Message: msg})
}

// misroutedTunnel answers an agent's tunnel request that came to the API:
// a second request on a kept-alive connection, which portshare does not
// route again.
func (s *server) misroutedTunnel(c *fiber.Ctx) error {
	if !strings.EqualFold(c.Get(fiber.HeaderUpgrade), "websocket") || !strings.Contains(strings.ToLower(c.Get(fiber.HeaderConnection)), "upgrade") {
		return errorf(fiber.StatusUpgradeRequired, "the tunnel is a websocket: send an upgrade request")
	}
	return errorf(fiber.StatusBadRequest, "open the tunnel as the first request of a new connection")
}
