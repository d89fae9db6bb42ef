package fault

import (
	"io"
	"net"
	"sync"
	"time"
)

// Balancer spreads TCP connections over upstreams, as a Kubernetes
// Service or a load balancer in front of hub replicas would: each new
// connection goes to the next upstream in turn, and to the one after it
// when that one refuses (a replica that died). Bytes are copied both ways
// until either side closes.
type Balancer struct {
	// Addr is where clients dial.
	Addr string

	ln        net.Listener
	upstreams []string
	mu        sync.Mutex
	next      int
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// NewBalancer listens on listen and stops when the test ends.
func NewBalancer(t TB, listen string, upstreams ...string) *Balancer {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("fault: balancer: %v", err)
	}
	b := &Balancer{Addr: ln.Addr().String(), ln: ln, upstreams: upstreams, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(b.close)
	return b
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.pipe(c)
		}()
	}
}

// pick dials the next upstream that answers.
func (b *Balancer) pick() net.Conn {
	b.mu.Lock()
	first := b.next
	b.next = (b.next + 1) % len(b.upstreams)
	b.mu.Unlock()
	for i := range b.upstreams {
		up, err := net.DialTimeout("tcp", b.upstreams[(first+i)%len(b.upstreams)], 2*time.Second)
		if err == nil {
			return up
		}
	}
	return nil
}

func (b *Balancer) track(cs ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns == nil {
		return false // closed
	}
	for _, c := range cs {
		b.conns[c] = struct{}{}
	}
	return true
}

func (b *Balancer) pipe(c net.Conn) {
	up := b.pick()
	if up == nil {
		c.Close()
		return
	}
	if !b.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// One side ended: end both, as a proxy whose peer went away.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	b.mu.Lock()
	if b.conns != nil {
		delete(b.conns, c)
		delete(b.conns, up)
	}
	b.mu.Unlock()
}

func (b *Balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	b.wg.Wait()
}
