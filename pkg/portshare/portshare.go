// Package portshare serves two HTTP servers on one listener. Each accepted
// connection's first request line is read (with a deadline, on a goroutine
// of its own so that a slow client holds up no other), and the connection,
// with what was read put back in front, goes to one server or the other by
// that line. The hub serves its REST API with fiber (fasthttp) and the
// agents' websocket tunnel with net/http and gorilla/websocket this way, on
// one port: a hijacked fasthttp connection keeps its request context and
// buffers for the session's life, which a net/http one does not.
//
// A connection is routed once, by its first request: a client that asks for
// the other server's path later on the same connection (keep-alive) stays
// where it is. Websocket clients dial a connection per tunnel.
package portshare

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// maxLine is the most bytes read to find the end of the request line; a
// line longer than that is routed by its start.
const maxLine = 1024

// Split serves ln to two listeners: connections whose request line match
// accepts go to the first, the others to the second. A connection whose
// request line does not arrive within timeout (or whose TLS handshake fails)
// is closed. Closing both listeners closes ln; ln's closing closes both.
func Split(ln net.Listener, timeout time.Duration, match func(requestLine []byte) bool) (matched, rest net.Listener) {
	s := &splitter{ln: ln, timeout: timeout, match: match}
	s.sides[0] = &side{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.sides[1] = &side{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	go s.accept()
	return s.sides[0], s.sides[1]
}

type splitter struct {
	ln      net.Listener
	timeout time.Duration
	match   func([]byte) bool
	sides   [2]*side

	mu      sync.Mutex
	shut    int  // sides closed
	stopped bool // ln is closed: the sides were closed by accept
}

// accept runs until ln is closed: its goroutine is owned by the splitter.
// Other Accept errors (too many open files, typically) are waited out as
// net/http does, 5 ms doubling to a second, rather than ending the server.
func (s *splitter) accept() {
	var wait time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			time.Sleep(wait)
			continue
		}
		if err != nil {
			s.mu.Lock()
			s.stopped = true
			s.mu.Unlock()
			for _, sd := range s.sides {
				sd.close()
			}
			return
		}
		wait = 0
		go s.route(c)
	}
}

// route reads c's request line and hands c to its side. It ends within the
// timeout, or when the side takes c or closes.
func (s *splitter) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.timeout))
	buf := make([]byte, 0, 256)
	for len(buf) < maxLine && bytes.IndexByte(buf, '\n') < 0 {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):min(cap(buf), maxLine)])
		buf = buf[:len(buf)+n]
		if err != nil {
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	line := buf
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	sd := s.sides[1]
	if s.match(line) {
		sd = s.sides[0]
	}
	pc := &peekedConn{Conn: c, buf: buf}
	var conn net.Conn = pc
	if tc, ok := c.(*tls.Conn); ok {
		conn = &tlsPeekedConn{peekedConn: pc, tls: tc}
	}
	select {
	case sd.conns <- conn:
	case <-sd.closed:
		_ = c.Close()
	}
}

// side is one of the two listeners.
type side struct {
	s      *splitter
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (sd *side) Accept() (net.Conn, error) {
	select {
	case c := <-sd.conns:
		return c, nil
	case <-sd.closed:
		return nil, net.ErrClosed
	}
}

// Close stops this side; the listener closes once both sides have.
func (sd *side) Close() error {
	if !sd.close() {
		return nil
	}
	sd.s.mu.Lock()
	sd.s.shut++
	last := sd.s.shut == 2 && !sd.s.stopped
	sd.s.mu.Unlock()
	if last {
		return sd.s.ln.Close()
	}
	return nil
}

// close closes the side; it reports whether this call did.
func (sd *side) close() bool {
	did := false
	sd.once.Do(func() { close(sd.closed); did = true })
	return did
}

func (sd *side) Addr() net.Addr { return sd.s.ln.Addr() }

// peekedConn reads what route read before the rest of the connection.
type peekedConn struct {
	net.Conn
	buf []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	if len(c.buf) == 0 {
		c.buf = nil // the buffer goes with the request line
	}
	return n, nil
}

// tlsPeekedConn keeps a TLS connection recognisable as one (fasthttp's
// IsTLS looks for these methods).
type tlsPeekedConn struct {
	*peekedConn
	tls *tls.Conn
}

func (c *tlsPeekedConn) Handshake() error                     { return c.tls.Handshake() }
func (c *tlsPeekedConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }
