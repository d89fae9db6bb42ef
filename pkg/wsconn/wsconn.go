// Package wsconn runs one websocket connection. The caller of Run reads; a
// writer goroutine runs only while there is something to write (queued
// messages, the owner's producer after Wake, the close), so an idle
// connection costs one goroutine; pings come from a Pinger, shared by many
// peers or private to one. The read deadline is extended by every message
// and pong; a peer that answers no ping for ReadTimeout is closed even if it
// keeps sending, since it does not read what it is sent. It works on
// gorilla/websocket connections (the hub serves its tunnel with gorilla on
// net/http; see hub/api/tunnelhttp.go).
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Message types, as in RFC 6455 and both websocket packages.
const (
	TextMessage  = 1
	CloseMessage = 8
	PingMessage  = 9
	PongMessage  = 10
)

// Conn is the part of a websocket connection that a Peer uses. WriteControl
// must be safe to call beside the other methods (gorilla's is).
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	SetPingHandler(h func(appData string) error)
	Close() error
}

// Options tune a Peer.
type Options struct {
	// ReadTimeout closes the connection when nothing (message or pong) has
	// arrived for this long, or no pong for this long.
	ReadTimeout time.Duration
	// Pinger pings the peer; nil: a Pinger of the peer's own, every
	// PingEvery (keep it well under the peer's ReadTimeout), for Run's
	// duration.
	Pinger    *Pinger
	PingEvery time.Duration
	// WriteTimeout bounds one write.
	WriteTimeout time.Duration
	// MaxMessage is the largest message read, in bytes.
	MaxMessage int64
	// QueueLen is how many outgoing messages may wait.
	QueueLen int
	// Produce, when set, runs on the writer goroutine after Wake, once the
	// queue is empty: it writes what the owner has to push with write,
	// which writes at once (within WriteTimeout). An error from write or
	// its own ends the peer; Run returns it.
	Produce func(write func([]byte) error) error
}

// ErrClosed is returned by Send on a closed peer.
var ErrClosed = errors.New("connection closed")

// ErrWriteFailed wraps the error of the write or ping that closed a peer; Run
// returns it.
var ErrWriteFailed = errors.New("write failed")

// ErrReadTimeout is what Run returns when the peer went silent (no message
// and no pong within ReadTimeout) or answered no ping within ReadTimeout.
var ErrReadTimeout = errors.New("read timeout")

// Peer is a running connection. Send and Wake may be called from any
// goroutine.
type Peer struct {
	conn Conn
	opts Options
	out  chan []byte

	woken    atomic.Bool   // Wake was called: Produce is due
	pingDue  atomic.Bool   // the Pinger asked for a ping
	writing  atomic.Bool   // a writer goroutine runs
	finished chan struct{} // closed once the writer has sent the close frame
	finish   sync.Once

	lastPong atomic.Int64 // unix nanos of the last pong (or of Run's start)

	ctx       context.Context // ends when the peer shuts down
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    chan struct{} // closed when the peer shuts down
	mu        sync.Mutex    // guards closeData, err and done, and orders read deadlines
	closeData []byte        // close frame to send on shutdown
	err       error         // the failure that closed the peer
	done      bool          // the writer has finished: read deadlines are final
}

// New wraps conn.
func New(conn Conn, opts Options) *Peer {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 64
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Peer{conn: conn, opts: opts, out: make(chan []byte, opts.QueueLen), finished: make(chan struct{}), closed: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// Context ends when the peer shuts down: the context of work done for it
// (Produce's reads, typically).
func (p *Peer) Context() context.Context { return p.ctx }

// Send queues one text message. It blocks while the queue is full, until ctx
// ends or the peer closes.
func (p *Peer) Send(ctx context.Context, msg []byte) error {
	select {
	case <-p.closed:
		return ErrClosed
	default:
	}
	select {
	case p.out <- msg:
		p.kick()
		return nil
	default:
	}
	p.kick() // the queue is full: its writer must be running
	select {
	case p.out <- msg:
		p.kick()
		return nil
	case <-p.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wake has the writer run Produce soon; wakes coalesce. It never blocks.
func (p *Peer) Wake() {
	p.woken.Store(true)
	p.kick()
}

// Done is closed when the peer has shut down.
func (p *Peer) Done() <-chan struct{} { return p.closed }

// Close shuts the peer down, sending a close frame with code and reason.
func (p *Peer) Close(code int, reason string) {
	p.mu.Lock()
	if p.closeData == nil {
		p.closeData = closeFrame(code, reason)
	}
	p.mu.Unlock()
	p.closeOnce.Do(func() { close(p.closed); p.cancel() })
	p.kick() // the writer sends the close frame
}

// Run reads messages and hands each to onMessage, on the calling goroutine,
// until the connection fails, onMessage returns an error, ctx ends or Close
// is called. Run returns only after the writer has sent the close frame and
// the connection is closed. When the peer was closed by a failure (a write,
// a ping, Produce, the read deadline, a missing pong), that is the error
// Run returns.
func (p *Peer) Run(ctx context.Context, onMessage func([]byte) error) error {
	p.conn.SetReadLimit(p.opts.MaxMessage)
	p.lastPong.Store(time.Now().UnixNano())
	p.extend()
	p.conn.SetPongHandler(func(string) error {
		p.lastPong.Store(time.Now().UnixNano())
		p.extend()
		return nil
	})
	// Pongs are written by the reader, with the writer's timeout: the
	// library's own handler gives a pong one second, and a pong's write
	// that times out ends the whole connection (a moment's stall of the
	// process would cost a healthy session).
	p.conn.SetPingHandler(func(data string) error {
		err := p.conn.WriteControl(PongMessage, []byte(data), time.Now().Add(p.opts.WriteTimeout))
		if err == nil || p.isClosed() {
			return nil
		}
		return fmt.Errorf("%w: pong: %w", ErrWriteFailed, err)
	})
	stopAfter := context.AfterFunc(ctx, func() { p.Close(1001, "going away") })
	defer stopAfter()
	pinger := p.opts.Pinger
	if pinger == nil {
		pinger = NewPinger(p.opts.PingEvery)
		pctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); pinger.Run(pctx) }()
		defer func() { stop(); <-done }()
	}
	pinger.add(p)
	defer pinger.remove(p)

	var err error
	for {
		var msg []byte
		if _, msg, err = p.conn.ReadMessage(); err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && !p.isClosed() {
				err = fmt.Errorf("%w: nothing heard for %v: %w", ErrReadTimeout, p.opts.ReadTimeout, err)
				p.fail(err, 1001, "read timeout")
			}
			break
		}
		p.extend()
		if err = onMessage(msg); err != nil {
			break
		}
	}
	p.Close(1000, "")
	<-p.finished
	_ = p.conn.Close()
	if f := p.failure(); f != nil {
		return f
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (p *Peer) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// extend moves the read deadline ReadTimeout ahead, unless the writer has
// finished and set the last one.
func (p *Peer) extend() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		_ = p.conn.SetReadDeadline(time.Now().Add(p.opts.ReadTimeout))
	}
}

// kick starts the writer unless it runs.
func (p *Peer) kick() {
	if p.writing.CompareAndSwap(false, true) {
		go p.writeRun()
	}
}

// writeRun writes until nothing is left to write: a ping that is due, the
// queue, then Produce when woken, then, once closed, the close frame. It is
// the only writer of the connection but for pongs (the reader answers
// pings): pings are written here too, with the writer's own timeout,
// because the websocket library ends the whole connection when any write
// times out, and a ping written with a short deadline from another
// goroutine would kill a healthy session whenever the process is slow for
// a moment.
func (p *Peer) writeRun() {
	write := func(msg []byte) error {
		_ = p.conn.SetWriteDeadline(time.Now().Add(p.opts.WriteTimeout))
		return p.conn.WriteMessage(TextMessage, msg)
	}
	for {
		if p.isClosed() {
			p.finish.Do(p.closeConn)
			return // writing stays set: no writer starts again
		}
		if p.pingDue.Swap(false) {
			if err := p.conn.WriteControl(PingMessage, nil, time.Now().Add(p.opts.WriteTimeout)); err != nil {
				p.fail(fmt.Errorf("%w: ping: %w", ErrWriteFailed, err), 1011, "ping failed")
				continue
			}
		}
		if !p.drain(write) {
			continue // closed by the failure
		}
		if p.woken.Swap(false) && p.opts.Produce != nil {
			if err := p.opts.Produce(write); err != nil {
				p.fail(err, 1011, "write failed")
			}
			continue
		}
		p.writing.Store(false)
		// Whatever came after the checks and before the store finds no
		// writer running: take it on, unless another writer has.
		if (len(p.out) > 0 || p.woken.Load() || p.pingDue.Load() || p.isClosed()) && p.writing.CompareAndSwap(false, true) {
			continue
		}
		return
	}
}

// drain writes what is queued; it reports false, having closed the peer,
// when a write fails.
func (p *Peer) drain(write func([]byte) error) bool {
	for {
		select {
		case msg := <-p.out:
			if err := write(msg); err != nil {
				p.fail(fmt.Errorf("%w: %w", ErrWriteFailed, err), 1011, "write failed")
				return false
			}
		default:
			return true
		}
	}
}

// closeConn writes what was queued before the close (an error message
// saying why, typically), then the close frame, and ends the reader. After a
// graceful close the reader reads on for a second at most (the peer's close
// frame); after a failure its read fails at once.
func (p *Peer) closeConn() {
	defer close(p.finished)
	if p.failure() == nil {
		p.drain(func(msg []byte) error {
			_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
			return p.conn.WriteMessage(TextMessage, msg)
		})
	}
	p.mu.Lock()
	data, failed := p.closeData, p.err != nil
	p.done = true
	grace := time.Second
	if failed {
		grace = 0
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(grace))
	p.mu.Unlock()
	if failed {
		grace = 100 * time.Millisecond // the peer may not read it
	}
	_ = p.conn.WriteControl(CloseMessage, data, time.Now().Add(grace))
}

// fail records err as what ended the peer and closes it.
func (p *Peer) fail(err error, code int, reason string) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.Close(code, reason)
}

// failure is the error recorded by fail, or nil.
func (p *Peer) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func closeFrame(code int, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	b := make([]byte, 2+len(reason))
	b[0], b[1] = byte(code>>8), byte(code)
	copy(b[2:], reason)
	return b
}
