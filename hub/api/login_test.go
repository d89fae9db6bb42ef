package api_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// fakeClock is the guard's clock and its delays: delays are recorded, not
// slept.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	delays []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, d)
}

// takeDelays returns the delays recorded since the last call.
func (c *fakeClock) takeDelays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.delays
	c.delays = nil
	return d
}

func testLoginLimits(c *fakeClock) api.LoginLimits {
	return api.LoginLimits{
		PairBurst: 3, PairEvery: time.Minute,
		IPBurst: 10, IPEvery: time.Minute,
		AccountBurst: 5, AccountEvery: time.Minute,
		Delay: time.Second, MaxDelay: 8 * time.Second,
		Now: c.Now, Sleep: c.Sleep,
	}
}

func loginBody(user, pw string) map[string]any { return map[string]any{"user": user, "password": pw} }

func retryAfter(t *testing.T, r *reply) int {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("429 without a Retry-After: %q (%s)", r.Header.Get("Retry-After"), r.Raw)
	}
	return secs
}

// One address failing forever cannot stop the real administrator from
// another address.
func TestLoginFailuresFromOneAddressLockNobodyOut(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	attacker, admin := h.from("127.0.0.2"), h.from("127.0.0.3")
	for range 3 {
		attacker.expect(401, "POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass1"))
	}
	for range 50 {
		r := attacker.expect(429, "POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass1"))
		if secs := retryAfter(t, r); secs > 60 {
			t.Fatalf("Retry-After %d beyond the pair's period", secs)
		}
	}
	admin.login(adminName, adminPass)
	if d := clk.takeDelays(); len(d) != 0 {
		t.Fatalf("delays %v: 3 failures from one address put the account under attack", d)
	}
	// The failing address is refused even the right password until its
	// failures decay; then it may try again.
	attacker.expect(429, "POST", "/v1/authorization", "", loginBody(adminName, adminPass))
	clk.Advance(time.Minute)
	attacker.login(adminName, adminPass)
}

// Guesses from many addresses are still slowed: beyond AccountBurst each
// failure from a fresh address is answered after a doubling delay, and an
// address that failed retries only after its failure decays. The right
// password from an address with no failures is never delayed or refused.
func TestLoginDistributedGuessIsSlowed(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	var got []time.Duration
	for i := range 10 {
		fresh := h.from(fmt.Sprintf("127.0.1.%d", i+1))
		fresh.expect(401, "POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass1"))
		d := clk.takeDelays()
		if len(d) > 1 {
			t.Fatalf("failure %d delayed %d times", i+1, len(d))
		}
		if len(d) == 0 {
			got = append(got, 0)
		} else {
			got = append(got, d[0])
		}
	}
	want := []time.Duration{0, 0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delays of the Nth failure from a fresh address: %v, want %v", got, want)
	}
	// While the account is under attack, an address that failed on it waits.
	r := h.from("127.0.1.1").expect(429, "POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass2"))
	retryAfter(t, r)
	if !strings.Contains(r.Message, "many addresses") {
		t.Fatalf("message %q", r.Message)
	}
	// The administrator, from an address with no failures: at once.
	h.from("127.0.2.1").login(adminName, adminPass)
	if d := clk.takeDelays(); len(d) != 0 {
		t.Fatalf("the right password was delayed: %v", d)
	}
	// Other accounts are not under attack.
	h.register("bob", "Bob-pass12", false)
	h.from("127.0.1.2").expect(401, "POST", "/v1/authorization", "", loginBody("bob", "Guess-pass1"))
	if d := clk.takeDelays(); len(d) != 0 {
		t.Fatalf("another account's failure was delayed: %v", d)
	}
	// Once the failures decay the account is no longer under attack.
	clk.Advance(10 * time.Minute)
	h.from("127.0.1.1").expect(401, "POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass3"))
	if d := clk.takeDelays(); len(d) != 0 {
		t.Fatalf("delayed after decay: %v", d)
	}
}

// Failures are throttled per (account, address) and per address.
func TestLoginThrottlePerPairAndAddress(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	h.register("alice", "Alice-pass1", false)
	h.register("bob", "Bob-pass12", false)
	a, b := h.from("127.0.0.4"), h.from("127.0.0.5")
	for range 3 {
		a.expect(401, "POST", "/v1/authorization", "", loginBody("alice", "Guess-pass1"))
	}
	r := a.expect(429, "POST", "/v1/authorization", "", loginBody("alice", "Guess-pass1"))
	if !strings.Contains(r.Message, "this account from this address") {
		t.Fatalf("message %q", r.Message)
	}
	// The pair only: a's other accounts and alice from b are checked.
	a.login("bob", "Bob-pass12")
	b.login("alice", "Alice-pass1")
	// The pair refills one attempt per period.
	clk.Advance(time.Minute)
	a.expect(401, "POST", "/v1/authorization", "", loginBody("alice", "Guess-pass1"))
	a.expect(429, "POST", "/v1/authorization", "", loginBody("alice", "Guess-pass1"))
	// The address: 10 failures on any accounts, then 429 for
	// every account from it, and for no other address. So far 4 failures,
	// one of them decayed.
	for i := range 7 {
		a.expect(401, "POST", "/v1/authorization", "", loginBody(fmt.Sprintf("ghost%d", i), "Guess-pass1"))
	}
	r = a.expect(429, "POST", "/v1/authorization", "", loginBody("ghost9", "Guess-pass1"))
	if !strings.Contains(r.Message, "from this address") {
		t.Fatalf("message %q", r.Message)
	}
	retryAfter(t, r)
	b.login(adminName, adminPass)
}

// Parallel guesses from one address cannot all pass the check made before
// any of them failed: the failures are reserved up front.
func TestLoginParallelGuessesAreBounded(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	a := h.from("127.0.0.6")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", "/v1/authorization", "", loginBody(adminName, "Guess-pass1"))
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 3 || statuses[429] != 17 {
		t.Fatalf("statuses %v, want 3 401 and 17 429", statuses)
	}
}

// The registry's realm: registry accounts and robots are limited the same
// way, and only failures count.
func TestRegistryLoginThrottle(t *testing.T) {
	clk := newFakeClock()
	st := storetest.Open(t, sqlstore.SQLite)
	h := startHub(t, st, withRegistry(t, "http://127.0.0.1:1"), withLogin(testLoginLimits(clk)))
	root := h.login(adminName, adminPass)
	acme := h.newTenant(root, "acme")
	h.secrets = append(h.secrets, "Many-reg1")
	h.expect(200, "POST", "/v1/repository/user", root, map[string]string{"user": "busy", "password": "Many-reg1"})
	// Clients ask for tokens all the time.
	for i := range 30 {
		if status, _ := h.registryToken("busy", "Many-reg1", "repository:x/y:pull"); status != 200 {
			t.Fatalf("token %d: %d", i, status)
		}
	}
	robot := fmt.Sprintf("robot$ns%d", acme.business.ID)
	for _, account := range []struct{ name, pw string }{{"busy", "Many-reg1"}, {robot, robotPassword(acme.business.ID)}} {
		bad, good := h.from("127.0.3.1"), h.from("127.0.3.2")
		for range 3 {
			if status, _ := bad.registryToken(account.name, "Wrong-pass1"); status != 401 {
				t.Fatalf("%s: failure answered %d", account.name, status)
			}
		}
		for range 10 {
			if status, _ := bad.registryToken(account.name, "Wrong-pass1"); status != 429 {
				t.Fatalf("%s: after 3 failures: %d, want 429", account.name, status)
			}
		}
		if status, _ := good.registryToken(account.name, account.pw); status != 200 {
			t.Fatalf("%s from another address: %d, want 200", account.name, status)
		}
		clk.Advance(time.Hour)
	}
	// A distributed guess at a robot is slowed.
	for i := range 7 {
		h.from(fmt.Sprintf("127.0.4.%d", i+1)).registryToken(robot, "Wrong-pass1")
	}
	if d := clk.takeDelays(); fmt.Sprint(d) != fmt.Sprint([]time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("delays of the 6th and 7th failures: %v", d)
	}
	if status, _ := h.from("127.0.4.100").registryToken(robot, robotPassword(acme.business.ID)); status != 200 {
		t.Fatalf("robot from a fresh address under attack: %d", status)
	}
	// Anonymous pulls are not logins and are not limited.
	if status, _ := h.registryToken("", "", "repository:x/y:pull"); status != 200 {
		t.Fatalf("anonymous: %d", status)
	}
}

func withRegister(l api.RegisterLimits) option { return func(c *api.Config) { c.Register = l } }

// Registration is throttled per address: 429 with Retry-After; requests
// that fail validation cost nothing.
func TestRegisterThrottlePerAddress(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withRegister(api.RegisterLimits{Burst: 2, Every: time.Hour}))
	a := h.from("127.0.5.1")
	a.secrets = append(a.secrets, "Reg-pass12")
	a.expect(422, "POST", "/v1/user", "", newUserBody("u0", "weak", false))
	for i := range 2 {
		a.expect(200, "POST", "/v1/user", "", newUserBody(fmt.Sprintf("u%d", i+1), "Reg-pass12", false))
	}
	r := a.expect(429, "POST", "/v1/user", "", newUserBody("u3", "Reg-pass12", false))
	if secs := retryAfter(t, r); secs > 3600 {
		t.Fatalf("Retry-After %d", secs)
	}
	h.from("127.0.5.2").expect(200, "POST", "/v1/user", "", newUserBody("u4", "Reg-pass12", false))
}

// While MaxPending users wait for approval, registration answers 503 with
// Retry-After; an approval makes room.
func TestRegisterPendingCap(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withRegister(api.RegisterLimits{MaxPending: 3}))
	root := h.login(adminName, adminPass)
	var first userOut
	for i := range 3 {
		u := h.register(fmt.Sprintf("p%d", i), "Pend-pass1", false)
		if i == 0 {
			first = u
		}
	}
	r := h.expect(503, "POST", "/v1/user", "", newUserBody("p3", "Pend-pass1", false))
	retryAfter(t, r)
	if !strings.Contains(r.Message, "waiting for approval") {
		t.Fatalf("message %q", r.Message)
	}
	// Administrators still create users.
	h.secrets = append(h.secrets, "Pw-sub1-ok")
	h.expect(200, "POST", "/v1/admin/user", root, newUserBody("sub1", "Pw-sub1-ok", false))
	h.auditUser(root, first.ID, 1)
	h.register("p3", "Pend-pass1", false)
}
