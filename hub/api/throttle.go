package api

import (
	"context"
	"math"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/pkg/ratelimit"
)

// LoginLimits slow down password guessing without letting anyone lock an
// account: only failures count, per (account, address) pair and per
// address, so a correct password from an address that has not failed is
// always checked. An account that fails from many addresses at once is
// under attack: each further failure is answered after a delay that doubles
// from Delay up to MaxDelay, and an address that has failed on it recently
// waits (429) until its failure has decayed. The same limits guard the
// platform's logins and the registry's (registry and robot accounts).
type LoginLimits struct {
	// PairBurst failures of one account from one address, then one more
	// every PairEvery.
	PairBurst int
	PairEvery time.Duration
	// IPBurst failures from one address on any accounts, then one more
	// every IPEvery. Failed agent authentications (joins, tunnels) from
	// one address are limited alike, apart from logins.
	IPBurst int
	IPEvery time.Duration
	// AccountBurst failures of one account from all addresses together
	// (decaying by one every AccountEvery) before it is under attack.
	AccountBurst int
	AccountEvery time.Duration
	// Delay is the delay of the first failure beyond AccountBurst; it
	// doubles with each further one, up to MaxDelay.
	Delay    time.Duration
	MaxDelay time.Duration
	// Now and Sleep replace the clock and the delay (tests).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration)
}

// DefaultLoginLimits: 5 failures per account and address, then one a
// minute; 30 per address, then one every 10 seconds; an account with more
// than 10 failures (one forgotten every 30 seconds) is under attack, and its
// failures are answered after 250 ms, 500 ms, ... up to 5 s.
var DefaultLoginLimits = LoginLimits{
	PairBurst: 5, PairEvery: time.Minute,
	IPBurst: 30, IPEvery: 10 * time.Second,
	AccountBurst: 10, AccountEvery: 30 * time.Second,
	Delay: 250 * time.Millisecond, MaxDelay: 5 * time.Second,
}

// loginGuard applies LoginLimits.
type loginGuard struct {
	lim               LoginLimits
	pair, ip, account *ratelimit.Failures
}

func newLoginGuard(l LoginLimits) *loginGuard {
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Sleep == nil {
		l.Sleep = sleepCtx
	}
	if l.MaxDelay < l.Delay {
		l.MaxDelay = l.Delay
	}
	return &loginGuard{
		lim:     l,
		pair:    ratelimit.NewFailures(l.PairEvery).WithClock(l.Now),
		ip:      ratelimit.NewFailures(l.IPEvery).WithClock(l.Now),
		account: ratelimit.NewFailures(l.AccountEvery).WithClock(l.Now),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// clientKey is the address that throttles count against: an IPv4 address,
// or the /64 of an IPv6 one (a single host commonly holds a whole /64).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// maxAccountKey bounds the bytes of an account name kept as a key: longer
// names are no account's, and their failures count together.
const maxAccountKey = 128

// loginAttempt is one attempt's reservation: a failure counted in advance
// against its pair, address and account, given back when it succeeds.
type loginAttempt struct {
	g                     *loginGuard
	pairKey, ipKey, acKey string
}

// begin admits an attempt of realm's account from ip or refuses it with a
// 429 and its Retry-After.
func (g *loginGuard) begin(realm, account, ip string) (*loginAttempt, error) {
	if len(account) > maxAccountKey {
		account = account[:maxAccountKey]
	}
	ip = clientKey(ip)
	a := &loginAttempt{g: g, ipKey: realm + "\x00" + ip, acKey: realm + "\x00" + account}
	a.pairKey = a.acKey + "\x00" + ip
	l := g.lim
	if ok, _, wait := g.ip.Take(a.ipKey, l.IPBurst); !ok {
		return nil, &Error{Status: fiber.StatusTooManyRequests, Message: "too many failed logins from this address; try again later", RetryAfter: wait}
	}
	limit, msg := l.PairBurst, "too many failed logins for this account from this address; try again later"
	if l.AccountBurst > 0 && g.account.Count(a.acKey) >= float64(l.AccountBurst) {
		limit, msg = 1, "this account is failing logins from many addresses; an address that failed on it must wait"
	}
	if ok, _, wait := g.pair.Take(a.pairKey, limit); !ok {
		g.ip.Refund(a.ipKey)
		return nil, &Error{Status: fiber.StatusTooManyRequests, Message: msg, RetryAfter: wait}
	}
	g.account.Add(a.acKey)
	return a, nil
}

// succeeded gives the reservation back: right passwords do not count.
// Attempts that end in a fault of the hub give it back too.
func (a *loginAttempt) succeeded() {
	a.g.pair.Refund(a.pairKey)
	a.g.ip.Refund(a.ipKey)
	a.g.account.Refund(a.acKey)
}

// failed keeps the reservation and, when the account is under attack,
// holds the answer back for a delay that doubles with every failure.
func (a *loginAttempt) failed(ctx context.Context) {
	if d := a.g.delay(a.g.account.Count(a.acKey)); d > 0 {
		a.g.lim.Sleep(ctx, d)
	}
}

// delay is the answer's delay for an account with n recent failures.
func (g *loginGuard) delay(n float64) time.Duration {
	l := g.lim
	over := math.Floor(n) - float64(l.AccountBurst)
	if l.AccountBurst <= 0 || l.Delay <= 0 || over < 1 {
		return 0
	}
	d := float64(l.Delay) * math.Pow(2, over-1)
	return time.Duration(min(d, float64(l.MaxDelay)))
}
