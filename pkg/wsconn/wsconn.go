// Package wsconn runs one websocket connection: a single writer goroutine fed
// by a bounded queue, pings well inside the peer's read deadline, a read
// deadline that every message and pong extends, and a size limit on reads.
// It works on gorilla/websocket connections and on fasthttp/websocket ones
// (what fiber's websocket middleware hands out): both satisfy Conn.
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Message types, as in RFC 6455 and both websocket packages.
const (
	TextMessage  = 1
	CloseMessage = 8
	PingMessage  = 9
)

// Conn is the part of a websocket connection that a Peer uses.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	Close() error
}

// Options tune a Peer.
type Options struct {
	// ReadTimeout closes the connection when nothing (message or pong) has
	// arrived for this long.
	ReadTimeout time.Duration
	// PingEvery sends a ping; keep it well under the peer's ReadTimeout.
	PingEvery time.Duration
	// WriteTimeout bounds one write.
	WriteTimeout time.Duration
	// MaxMessage is the largest message read, in bytes.
	MaxMessage int64
	// QueueLen is how many outgoing messages may wait.
	QueueLen int
}

// ErrClosed is returned by Send on a closed peer.
var ErrClosed = errors.New("connection closed")

// ErrWriteFailed wraps the error of the write or ping that closed a peer; Run
// returns it.
var ErrWriteFailed = errors.New("write failed")

// Peer is a running connection. Send may be called from any goroutine.
type Peer struct {
	conn Conn
	opts Options
	out  chan []byte

	closeOnce sync.Once
	closed    chan struct{} // closed when the peer shuts down
	mu        sync.Mutex    // guards closeData and writeErr
	closeData []byte        // close frame to send on shutdown
	writeErr  error         // the write or ping that failed and closed the peer
}

// New wraps conn.
func New(conn Conn, opts Options) *Peer {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 64
	}
	return &Peer{conn: conn, opts: opts, out: make(chan []byte, opts.QueueLen), closed: make(chan struct{})}
}

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
		return nil
	case <-p.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
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
	p.closeOnce.Do(func() { close(p.closed) })
}

// Run reads messages and hands each to onMessage until the connection fails,
// onMessage returns an error, ctx ends or Close is called. It runs the writer
// goroutine meanwhile and returns only after it has stopped and the
// connection is closed. When a write (or ping) failed, its error is what Run
// returns.
func (p *Peer) Run(ctx context.Context, onMessage func([]byte) error) error {
	p.conn.SetReadLimit(p.opts.MaxMessage)
	extend := func() { _ = p.conn.SetReadDeadline(time.Now().Add(p.opts.ReadTimeout)) }
	extend()
	p.conn.SetPongHandler(func(string) error { extend(); return nil })

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		p.writeLoop(ctx)
	}()

	var readErr error
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_, msg, err := p.conn.ReadMessage()
			if err != nil {
				readErr = err
				return
			}
			extend()
			if err := onMessage(msg); err != nil {
				readErr = err
				return
			}
		}
	}()

	var err error
	select {
	case <-readerDone:
		err = readErr
		p.Close(1000, "")
	case <-p.closed:
		err = p.failure()
	case <-ctx.Done():
		p.Close(1001, "going away")
		err = ctx.Err()
	}
	<-writerDone // the writer has sent the close frame
	_ = p.conn.Close()
	<-readerDone // a closed connection ends the reader
	if err == nil {
		err = readErr
	}
	return err
}

func (p *Peer) writeLoop(ctx context.Context) {
	ping := time.NewTicker(p.opts.PingEvery)
	defer ping.Stop()
	for {
		select {
		case msg := <-p.out:
			_ = p.conn.SetWriteDeadline(time.Now().Add(p.opts.WriteTimeout))
			if err := p.conn.WriteMessage(TextMessage, msg); err != nil {
				p.fail(fmt.Errorf("%w: %w", ErrWriteFailed, err), "write failed")
				return
			}
		case <-ping.C:
			if err := p.conn.WriteControl(PingMessage, nil, time.Now().Add(p.opts.WriteTimeout)); err != nil {
				p.fail(fmt.Errorf("%w: ping: %w", ErrWriteFailed, err), "ping failed")
				return
			}
		case <-p.closed:
			// What was queued before the close (an error message saying
			// why, typically) still goes out first.
			for drained := false; !drained; {
				select {
				case msg := <-p.out:
					_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
					if p.conn.WriteMessage(TextMessage, msg) != nil {
						drained = true
					}
				default:
					drained = true
				}
			}
			p.mu.Lock()
			data := p.closeData
			p.mu.Unlock()
			_ = p.conn.WriteControl(CloseMessage, data, time.Now().Add(time.Second))
			return
		case <-ctx.Done():
			p.Close(1001, "going away")
		}
	}
}

// fail records the write error that ends the peer and closes it.
func (p *Peer) fail(err error, reason string) {
	p.mu.Lock()
	if p.writeErr == nil {
		p.writeErr = err
	}
	p.mu.Unlock()
	p.Close(1011, reason)
}

// failure is the error recorded by fail, or nil.
func (p *Peer) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeErr
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
