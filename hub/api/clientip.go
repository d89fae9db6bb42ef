package api

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Proxies says which peers are reverse proxies (an Ingress controller, a
// load balancer) whose header names the client. Login throttling, the
// registration limit, agent authentication limits and the audit trail all
// key on the client address: behind a proxy, without this, every client
// would be the proxy, and one client's failures would throttle all.
type Proxies struct {
	// Trusted are the proxies' addresses or CIDR ranges; empty: the peer
	// is the client.
	Trusted []string
	// Header names the client, set (not appended to) by the proxy: nginx's
	// X-Real-IP by default. A header a client could append to (the left
	// of X-Forwarded-For) must not be used: clients would choose their
	// own address, and so their own throttle.
	Header string
}

// proxySet is Proxies parsed.
type proxySet struct {
	prefixes []netip.Prefix
	header   string
}

func parseProxies(p Proxies) (*proxySet, error) {
	ps := &proxySet{header: p.Header}
	if ps.header == "" {
		ps.header = "X-Real-IP"
	}
	for _, t := range p.Trusted {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(t); err == nil {
			ps.prefixes = append(ps.prefixes, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR range", t)
		}
		ps.prefixes = append(ps.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return ps, nil
}

// clientIP is the address of the request's client: the peer's, or, when
// the peer is a trusted proxy and its header holds an address, the
// header's.
func (s *server) clientIP(c *fiber.Ctx) string {
	return s.clientAddr(c.Context().RemoteIP().String(), func(h string) string { return c.Get(h) })
}

// clientAddr is clientIP for a request from peer whose headers header reads.
func (s *server) clientAddr(peer string, header func(string) string) string {
	if len(s.proxies.prefixes) == 0 {
		return peer
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil {
		return peer
	}
	pa = pa.Unmap()
	for _, pre := range s.proxies.prefixes {
		if pre.Contains(pa) {
			if h, err := netip.ParseAddr(strings.TrimSpace(header(s.proxies.header))); err == nil {
				return h.Unmap().String()
			}
			return peer
		}
	}
	return peer
}
