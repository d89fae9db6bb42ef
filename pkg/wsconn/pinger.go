package wsconn

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Pinger pings its peers once a period each, spread over the period, and
// closes those that answered no ping for their ReadTimeout. One Pinger on
// one goroutine serves every session of a hub: a session needs no timer or
// goroutine of its own to stay alive.
type Pinger struct {
	every time.Duration

	mu    sync.Mutex
	peers []map[*Peer]struct{} // by slice of the period
	next  int                  // slice that the next added peer joins
}

// pingSlices is how many slices a Pinger's period is cut into.
const pingSlices = 16

// NewPinger pings each peer every period.
func NewPinger(every time.Duration) *Pinger {
	pg := &Pinger{every: every, peers: make([]map[*Peer]struct{}, pingSlices)}
	for i := range pg.peers {
		pg.peers[i] = map[*Peer]struct{}{}
	}
	return pg
}

func (pg *Pinger) add(p *Peer) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.peers[pg.next][p] = struct{}{}
	pg.next = (pg.next + 1) % pingSlices
}

func (pg *Pinger) remove(p *Peer) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	for _, m := range pg.peers {
		delete(m, p)
	}
}

// Run pings until ctx ends.
func (pg *Pinger) Run(ctx context.Context) {
	t := time.NewTicker(max(pg.every/pingSlices, time.Millisecond))
	defer t.Stop()
	for slice := 0; ; slice = (slice + 1) % pingSlices {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pg.mu.Lock()
		due := make([]*Peer, 0, len(pg.peers[slice]))
		for p := range pg.peers[slice] {
			due = append(due, p)
		}
		pg.mu.Unlock()
		for _, p := range due {
			p.ping()
		}
	}
}

// ping closes the peer if it answered no ping for ReadTimeout, and asks
// its writer for a ping otherwise: the Pinger itself never writes, so a
// peer whose socket is full delays no other peer's ping.
func (p *Peer) ping() {
	if p.isClosed() {
		return
	}
	if silent := time.Since(time.Unix(0, p.lastPong.Load())); silent > p.opts.ReadTimeout {
		p.fail(fmt.Errorf("%w: no pong for %v: the peer does not read", ErrReadTimeout, silent.Round(time.Millisecond)), 1001, "no pong")
		return
	}
	p.pingDue.Store(true)
	p.kick()
}
