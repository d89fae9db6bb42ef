package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is a TCP proxy between a client (which dials Addr) and an
// upstream, with faults switched on and off while connections are open.
//
// It is Shopify's toxiproxy, used as a library in the test's process: the
// fault proxy most used for this (in Shopify's and many others' CI for
// years), with the faults these tests need as ready "toxics" (latency,
// bandwidth, reset_peer, timeout), applied per direction to connections
// already open; and no daemon or port of its own to manage.
type Proxy struct {
	// Addr is where clients dial.
	Addr string
	p    *toxiproxy.Proxy
}

var proxySeq atomic.Int32

// NewProxy starts a proxy on listen (host:port; port 0 picks one) to
// upstream and stops it when the test ends.
func NewProxy(t TB, listen, upstream string) *Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	name := fmt.Sprintf("proxy-%d", proxySeq.Add(1))
	p := toxiproxy.NewProxy(srv, name, listen, upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("fault: proxy on %s: %v", listen, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{Addr: p.Listen, p: p}
}

// Stream is a direction through the proxy.
type Stream string

const (
	// Upstream is client to upstream (an agent's messages to the hub).
	Upstream Stream = "upstream"
	// Downstream is upstream to client (the hub's messages to an agent).
	Downstream Stream = "downstream"
)

func (p *Proxy) add(t TB, name, kind string, s Stream, attrs map[string]int64) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "type": kind, "stream": s, "toxicity": 1.0, "attributes": attrs})
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		t.Fatalf("fault: add %s %s: %v", kind, s, err)
	}
}

// Latency delays every chunk each way by d (so a round trip costs 2d).
func (p *Proxy) Latency(t TB, d time.Duration) {
	t.Helper()
	for _, s := range []Stream{Upstream, Downstream} {
		p.add(t, "latency_"+string(s), "latency", s, map[string]int64{"latency": d.Milliseconds()})
	}
}

// Bandwidth limits each direction to kbps kilobytes per second.
func (p *Proxy) Bandwidth(t TB, kbps int64) {
	t.Helper()
	for _, s := range []Stream{Upstream, Downstream} {
		p.add(t, "bandwidth_"+string(s), "bandwidth", s, map[string]int64{"rate": kbps})
	}
}

// BlackHole keeps every connection open at both ends and lets nothing
// through, either way: each peer holds an established TCP connection that
// will never carry a byte (a half-open connection, as each side sees it),
// which only an application-level heartbeat can detect.
func (p *Proxy) BlackHole(t TB) {
	t.Helper()
	for _, s := range []Stream{Upstream, Downstream} {
		p.add(t, "timeout_"+string(s), "timeout", s, map[string]int64{"timeout": 0})
	}
}

// Reset answers data with a TCP RST on both sides after d.
func (p *Proxy) Reset(t TB, d time.Duration) {
	t.Helper()
	p.add(t, "reset_upstream", "reset_peer", Upstream, map[string]int64{"timeout": d.Milliseconds()})
}

// Clear removes every fault. Removing a black hole closes the connections
// it held (toxiproxy ends them), as a peer's timeout would have.
func (p *Proxy) Clear(t TB) {
	t.Helper()
	p.p.Toxics.ResetToxics(context.Background())
}

// Port is the port of Addr.
func (p *Proxy) Port() string {
	_, port, _ := net.SplitHostPort(p.Addr)
	return port
}
