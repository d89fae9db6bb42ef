package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ote-stack/ote/agent/tunnel"
	"github.com/ote-stack/ote/pkg/backoff"
	"github.com/ote-stack/ote/protocol"
)

// Kinds of bad peers.
const (
	kindSilent    = "silent"    // hello, then nothing: half-open as far as the hub can tell
	kindNonReader = "nonreader" // hello, then a heartbeat every 300ms; never answers a ping
	kindGarbage   = "garbage"   // hello, then a frame that is not a message (text or binary)
	kindFlooder   = "flooder"   // hello, then heartbeats as fast as it can; answers pings
	kindPreUpg    = "preupgrade"
)

// wantCode is the code the hub must log when it closes a peer of each kind.
var wantCode = map[string]string{
	kindSilent:    "read_timeout",
	kindNonReader: "read_timeout",
	kindGarbage:   protocol.ErrCodeBadMessage,
	kindFlooder:   "flood",
}

// TestBadPeers runs a few hundred misbehaving peers beside healthy agents on
// one hub: a peer that stops reading, sends garbage, floods or holds a
// half-open connection is closed with a logged reason, and the healthy
// agents neither drop their sessions nor wait longer for desired state.
func TestBadPeers(t *testing.T) {
	const (
		healthy     = 20
		perKind     = 60
		closeWithin = 30 * time.Second // a bad session, from its hello
		// A connection that never finishes its request is the HTTP
		// server's to close: the hub reads a request for at most 30s.
		preUpgradeWithin = 40 * time.Second
		fanOutWithin     = 5 * time.Second
	)
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", "1s", "--log-level", "info", "--registry-listen", "off")
	root := h.login("admin", "Root-pass1")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	// Kind 5 first: the hub's HTTP server gives a request 30s, the longest
	// wait of the test.
	pre := make([]*rawPeer, perKind)
	for i := range pre {
		pre[i] = openPreUpgrade(t, h.addr)
	}
	for _, p := range pre {
		wg.Add(1)
		go func() { defer wg.Done(); p.watch() }()
	}

	// Join every cluster, healthy and bad: the bad ones hold valid
	// credentials, so that the hub serves them a session.
	httpc := &http.Client{Timeout: 30 * time.Second}
	var names []string
	for i := 0; i < healthy; i++ {
		names = append(names, fmt.Sprintf("good-%02d", i))
	}
	badKinds := []string{kindSilent, kindNonReader, kindGarbage, kindFlooder}
	for _, k := range badKinds {
		for i := 0; i < perKind; i++ {
			names = append(names, fmt.Sprintf("bad-%s-%02d", k, i))
		}
	}
	creds := make([]string, len(names))
	errs := make([]error, len(names))
	bounded(len(names), 8, func(i int) { creds[i], errs[i] = joinCluster(httpc, h.url, names[i]) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	// The healthy agents: the real tunnel client with fake cluster parts.
	var agentLog lockedBuffer
	alog := slog.New(slog.NewTextHandler(&agentLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("healthy agents' warnings:\n%s", tailOf(agentLog.String(), 4000))
		}
	})
	agents := make([]*fakeCluster, healthy)
	for i := range agents {
		a := &fakeCluster{name: names[i], cred: creds[i], applied: map[string]time.Time{}}
		a.nodes = []protocol.Node{{Name: "node-0", OperatingSystem: "linux", CPU: 4, Memory: 8 << 30, Disk: 50 << 30, Ready: true, IP: fmt.Sprintf("10.9.0.%d", i)}}
		c, err := tunnel.New(tunnel.Config{HubURL: h.url, ClusterName: a.name, Credentials: a, Inventory: a, Applier: a,
			Log: alog, Backoff: backoff.New(500*time.Millisecond, 5*time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		a.client = c
		agents[i] = a
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
	}
	eventually(t, 30*time.Second, "every healthy agent connected and synced", func() bool {
		for _, a := range agents {
			if a.client.Resyncs() != 1 || !a.client.Connected() {
				return false
			}
		}
		return true
	})
	baseline, ok := fanOut(t, h, root, agents, "calm", 4*fanOutWithin)
	if !ok || baseline > fanOutWithin {
		t.Fatalf("before any bad peer, a namespace took %v to reach every healthy agent (all there: %v)", baseline, ok)
	}
	goroutinesBefore := hubGoroutines(h)

	// The healthy agents must not lose their sessions at any moment.
	var dropped atomic.Value // string: the first agent seen disconnected
	monitorDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-monitorDone:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, a := range agents {
				if (!a.client.Connected() || a.client.Resyncs() != 1) && dropped.Load() == nil {
					dropped.Store(fmt.Sprintf("%s at %s (connected %v, resyncs %d)", a.name, time.Now().Format("15:04:05.000"), a.client.Connected(), a.client.Resyncs()))
				}
			}
		}
	}()

	// The bad peers: dial, hello, misbehave.
	bad := make([]*badPeer, 0, len(badKinds)*perKind)
	for i := healthy; i < len(names); i++ {
		kind := strings.Split(names[i], "-")[1]
		bad = append(bad, &badPeer{kind: kind, cluster: names[i], cred: creds[i], binary: kind == kindGarbage && i%2 == 1, closed: make(chan struct{})})
	}
	t.Cleanup(func() {
		for _, p := range bad {
			p.closeConn()
		}
	})
	dialErrs := make([]error, len(bad))
	helloAt := time.Now()
	bounded(len(bad), 16, func(i int) { dialErrs[i] = bad[i].start(ctx, h.addr, &wg) })
	if err := errors.Join(dialErrs...); err != nil {
		t.Fatalf("bad peers could not even say hello: %v", err)
	}
	t.Logf("%d bad peers said hello in %v", len(bad), time.Since(helloAt).Round(time.Millisecond))

	// (c) While they misbehave, desired state still reaches every healthy
	// agent within a few seconds.
	during, duringOK := fanOut(t, h, root, agents, "besieged", 4*fanOutWithin)
	t.Logf("fan-out of a namespace to %d healthy agents: %v calm, %v beside %d bad peers", healthy, baseline, during, len(bad)+len(pre))
	goroutinesDuring := hubGoroutines(h)

	// (a) Every bad session is closed by the hub, each within closeWithin
	// of its hello (one shared deadline: the last hello plus closeWithin).
	var lastHello time.Time
	for _, p := range bad {
		if p.helloAt.After(lastHello) {
			lastHello = p.helloAt
		}
	}
	waitCtx, waitCancel := context.WithDeadline(ctx, lastHello.Add(closeWithin))
	defer waitCancel()
	for _, p := range bad {
		select {
		case <-p.closed:
		case <-waitCtx.Done():
		}
	}
	// (b) and every connection that never finished its request.
	preCtx, preCancel := context.WithDeadline(ctx, pre[len(pre)-1].openedAt.Add(preUpgradeWithin))
	defer preCancel()
	for _, p := range pre {
		select {
		case <-p.closed:
		case <-preCtx.Done():
		}
	}
	for _, kind := range badKinds {
		var closed, logged, rightCode, late int
		codes := map[string]int{}
		peerSaw := map[string]int{}
		var mine []*badPeer
		for _, p := range bad {
			if p.kind != kind {
				continue
			}
			mine = append(mine, p)
			at, how, ok := p.result()
			if !ok {
				continue
			}
			closed++
			if at.Sub(p.helloAt) > closeWithin {
				late++
			}
			peerSaw[how]++
		}
		// The hub logs a session's end just after closing it: wait, briefly,
		// for a line for every peer seen closed.
		var lines map[string]string
		waitFor(5*time.Second, func() bool {
			lines = hubClosedLines(h.logs())
			for _, p := range mine {
				if _, _, ok := p.result(); ok && lines[p.cluster] == "" {
					return false
				}
			}
			return true
		})
		var example string
		examples := map[string]bool{}
		for _, p := range mine {
			line := lines[p.cluster]
			if line == "" {
				continue
			}
			logged++
			code := regexpFind(`\bcode=(\S+)`, line)
			codes[code]++
			if code == wantCode[kind] {
				rightCode++
			}
			variant := ""
			if kind == kindGarbage {
				variant = fmt.Sprintf("binary=%v", p.binary)
			}
			if !examples[variant] {
				examples[variant] = true
				example += "\n\t" + line
			}
		}
		t.Logf("%s: %d/%d closed by the hub (peer saw %v), %d logged %q (codes %v); e.g.%s",
			kind, closed, perKind, peerSaw, logged, "session closed by the hub", codes, example)
		// What the hub said of a peer it closed without the line, or of
		// one it did not close.
		show := mine[0]
		for _, p := range mine {
			if _, _, ok := p.result(); ok && lines[p.cluster] == "" {
				show = p
				break
			}
		}
		if lines[show.cluster] == "" {
			_, how, ok := show.result()
			t.Logf("%s: the hub's lines for %s (closed: %v %s):\n%s", kind, show.cluster, ok, how, linesFor(h.logs(), show.cluster))
		}
		if kind == kindFlooder {
			var sent int64
			for _, p := range bad {
				if p.kind == kind {
					sent += p.sent.Load()
				}
			}
			t.Logf("%s: %d heartbeats sent by %d flooders", kind, sent, perKind)
		}
		if closed != perKind || late > 0 {
			t.Errorf("(a) %s: %d of %d bad peers closed by the hub within %v of their hello (%d late)", kind, closed, perKind, closeWithin, late)
		}
		if logged != perKind || rightCode != perKind {
			t.Errorf("(a) %s: %d of %d closed sessions logged %q, %d with code=%s (codes %v)", kind, logged, closed, "session closed by the hub", rightCode, wantCode[kind], codes)
		}
	}
	var preClosed int
	preSaw := map[string]int{}
	for _, p := range pre {
		if at, how, ok := p.result(); ok && at.Sub(p.openedAt) <= preUpgradeWithin {
			preClosed++
			preSaw[how]++
		}
	}
	t.Logf("%s: %d/%d closed by the hub (peer saw %v)", kindPreUpg, preClosed, perKind, preSaw)
	if preClosed != perKind {
		t.Errorf("(b) %s: %d of %d half-open requests closed by the hub within %v", kindPreUpg, preClosed, perKind, preUpgradeWithin)
	}

	// (c) The healthy agents kept their first sessions throughout.
	close(monitorDone)
	if d := dropped.Load(); d != nil {
		t.Errorf("(c) a healthy agent lost its session: %s", d)
	}
	for _, a := range agents {
		if !a.client.Connected() || a.client.Resyncs() != 1 {
			t.Errorf("(c) %s: connected %v, resyncs %d, want connected with its first session", a.name, a.client.Connected(), a.client.Resyncs())
		}
	}
	if !duringOK || during > fanOutWithin {
		t.Errorf("(c) fan-out beside the bad peers took %v (every agent reached: %v), want at most %v", during, duringOK, fanOutWithin)
	}

	// (d) The hub is alive and ready.
	select {
	case err := <-h.exited:
		t.Fatalf("(d) the hub exited: %v", err)
	default:
	}
	resp, err := httpc.Get(h.url + "/readyz")
	if err != nil {
		t.Fatalf("(d) /readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("(d) /readyz answered %d", resp.StatusCode)
	}

	// (e) One session's budget and no more: once every bad peer is closed,
	// the hub is back to what it ran before them (allowing for idle HTTP
	// workers, which the server keeps for 10s).
	open := 0
	for _, p := range bad {
		if _, _, ok := p.result(); !ok {
			open++
		}
	}
	for _, p := range pre {
		if _, _, ok := p.result(); !ok {
			open++
		}
	}
	after := hubGoroutines(h)
	if open == 0 && goroutinesBefore > 0 {
		const slack = 64
		if !waitFor(15*time.Second, func() bool { after = hubGoroutines(h); return after <= goroutinesBefore+slack }) {
			t.Errorf("(e) the hub runs %d goroutines after every bad peer was closed, %d before them", after, goroutinesBefore)
		}
	}
	t.Logf("hub goroutines: %d before the bad peers, %d beside them, %d at the end (%d bad connections still open)", goroutinesBefore, goroutinesDuring, after, open)
}

// fakeCluster is a healthy cluster's side of an agent: the credential it
// joined with, one node, and an applier that records what it applied.
type fakeCluster struct {
	name, cred string
	nodes      []protocol.Node
	client     *tunnel.Client
	mu         sync.Mutex
	applied    map[string]time.Time // namespace -> when
}

func (a *fakeCluster) Load(context.Context, string) (string, error) { return a.cred, nil }
func (a *fakeCluster) Save(context.Context, string, string) error   { return nil }
func (a *fakeCluster) Snapshot() []protocol.Node                    { return a.nodes }
func (a *fakeCluster) Delta() ([]protocol.Node, []string)           { return nil, nil }
func (a *fakeCluster) Changed() <-chan struct{}                     { return nil }
func (a *fakeCluster) Apply(_ context.Context, it protocol.Item) error {
	if it.Kind == protocol.ItemNamespace && !it.Deleted {
		a.mu.Lock()
		if _, ok := a.applied[it.Name]; !ok {
			a.applied[it.Name] = time.Now()
		}
		a.mu.Unlock()
	}
	return nil
}

func (a *fakeCluster) hasApplied(ns string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.applied[ns]
	return ok
}

// fanOut approves a new business and returns how long its namespace took
// to reach every agent's applier, waiting up to limit; ok is false if some
// agent had not applied it by then.
func fanOut(t *testing.T, h *hubProc, root string, agents []*fakeCluster, name string, limit time.Duration) (took time.Duration, ok bool) {
	t.Helper()
	t0 := time.Now()
	ns := h.approveBusiness(root, name)
	ok = waitFor(limit, func() bool {
		for _, a := range agents {
			if !a.hasApplied(ns) {
				return false
			}
		}
		return true
	})
	return time.Since(t0).Round(time.Millisecond), ok
}

func joinCluster(c *http.Client, base, name string) (string, error) {
	b, _ := json.Marshal(protocol.JoinRequest{ClusterName: name})
	req, err := http.NewRequest("POST", base+protocol.JoinPath, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(protocol.HeaderBootstrapToken, bootstrap)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("join %s: %w", name, err)
	}
	defer resp.Body.Close()
	var e struct {
		Message string                `json:"message"`
		Data    protocol.JoinResponse `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 200 || e.Data.Credential == "" {
		return "", fmt.Errorf("join %s: HTTP %d %s %v", name, resp.StatusCode, e.Message, err)
	}
	return e.Data.Credential, nil
}

// badPeer is one misbehaving tunnel client with a valid credential. Its
// observer reads what the hub sends only to see the hub close the session:
// it answers no ping and hands nothing back, so that to the hub it is the
// same as a peer that reads nothing (a few pings fill no TCP window).
type badPeer struct {
	kind, cluster, cred string
	binary              bool // garbage: a binary frame rather than text

	conn    *websocket.Conn
	helloAt time.Time
	sent    atomic.Int64

	closed   chan struct{} // closed when the observer saw the hub close
	mu       sync.Mutex
	closedAt time.Time
	how      string
}

func (p *badPeer) start(ctx context.Context, addr string, wg *sync.WaitGroup) error {
	hdr := http.Header{}
	hdr.Set(protocol.HeaderCluster, p.cluster)
	hdr.Set("Authorization", "Bearer "+p.cred)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, "ws://"+addr+protocol.TunnelPath, hdr)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%s: dial: HTTP %d: %w", p.cluster, resp.StatusCode, err)
		}
		return fmt.Errorf("%s: dial: %w", p.cluster, err)
	}
	p.mu.Lock()
	p.conn = conn
	p.mu.Unlock()
	hello, _ := protocol.Encode(&protocol.Message{Kind: protocol.KindHello, Cluster: p.cluster, Hello: &protocol.Hello{
		ProtocolVersion: protocol.Version, AgentVersion: "bad-peer",
	}})
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		return fmt.Errorf("%s: hello: %w", p.cluster, err)
	}
	p.helloAt = time.Now()
	conn.SetPingHandler(func(string) error { return nil }) // no pong
	if p.kind == kindFlooder {
		// A flooder answers pings: only its flood may get it closed
		// (one that did not answer might be closed for that first on a
		// loaded machine, before its flood has used up its budget).
		conn.SetPingHandler(func(data string) error {
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Minute))
		})
	}
	conn.SetCloseHandler(func(int, string) error { return nil }) // no answer
	wg.Add(2)
	go func() { defer wg.Done(); p.observe() }()
	go func() { defer wg.Done(); p.misbehave(ctx) }()
	return nil
}

func (p *badPeer) observe() {
	p.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		_, _, err := p.conn.ReadMessage()
		if err == nil {
			continue
		}
		how := "error"
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			how = fmt.Sprintf("close %d %s", ce.Code, ce.Text)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			how = "EOF"
		case errors.Is(err, net.ErrClosed):
			return // closed by the test
		case strings.Contains(err.Error(), "connection reset"):
			how = "reset"
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			how = err.Error()
		}
		p.mu.Lock()
		p.closedAt, p.how = time.Now(), how
		p.mu.Unlock()
		close(p.closed)
		return
	}
}

func (p *badPeer) misbehave(ctx context.Context) {
	heartbeat, _ := protocol.Encode(&protocol.Message{Kind: protocol.KindHeartbeat, Heartbeat: &protocol.Heartbeat{UnixMillis: time.Now().UnixMilli()}})
	write := func(typ int, b []byte) bool {
		// A write blocks while the hub does not read: the peer waits (a
		// timed-out write breaks the connection), until the hub closes it
		// or the test ends.
		p.conn.SetWriteDeadline(time.Now().Add(time.Minute))
		if p.conn.WriteMessage(typ, b) != nil {
			return false
		}
		p.sent.Add(1)
		return true
	}
	switch p.kind {
	case kindSilent:
	case kindGarbage:
		if p.binary {
			write(websocket.BinaryMessage, []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x7b})
		} else {
			write(websocket.TextMessage, []byte("}{ this is not a message"))
		}
	case kindNonReader:
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.closed:
				return
			case <-tick.C:
			}
			if !write(websocket.TextMessage, heartbeat) {
				return
			}
		}
	case kindFlooder:
		for ctx.Err() == nil {
			select {
			case <-p.closed:
				return
			default:
			}
			if !write(websocket.TextMessage, heartbeat) {
				return
			}
		}
	}
}

func (p *badPeer) result() (time.Time, string, bool) {
	select {
	case <-p.closed:
	default:
		return time.Time{}, "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closedAt, p.how, true
}

func (p *badPeer) closeConn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
	}
}

// rawPeer is a TCP connection that sends part of a request line and then
// nothing, before any upgrade.
type rawPeer struct {
	conn     net.Conn
	openedAt time.Time
	closed   chan struct{}
	mu       sync.Mutex
	closedAt time.Time
	how      string
}

func openPreUpgrade(t *testing.T, addr string) *rawPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &rawPeer{conn: conn, openedAt: time.Now(), closed: make(chan struct{})}
	if _, err := io.WriteString(conn, "GET "+protocol.TunnelPath+" HT"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *rawPeer) watch() {
	p.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var got []byte
	r := bufio.NewReader(p.conn)
	for {
		line, err := r.ReadString('\n')
		if len(got) == 0 && line != "" {
			got = []byte(strings.TrimSpace(line))
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
			return // closed by the test, or never by the hub
		}
		how := "EOF"
		if !errors.Is(err, io.EOF) {
			how = err.Error()
		}
		if len(got) > 0 {
			how = fmt.Sprintf("%q then %s", got, how)
		}
		p.mu.Lock()
		p.closedAt, p.how = time.Now(), how
		p.mu.Unlock()
		close(p.closed)
		return
	}
}

func (p *rawPeer) result() (time.Time, string, bool) {
	select {
	case <-p.closed:
	default:
		return time.Time{}, "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closedAt, p.how, true
}

// hubClosedLines maps each cluster to the hub's first "session closed by
// the hub" line for it.
func hubClosedLines(logs string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "session closed by the hub") {
			continue
		}
		if c := regexpFind(`\bcluster=(\S+)`, line); c != "" && m[c] == "" {
			m[c] = line
		}
	}
	return m
}

// linesFor is every line of logs about cluster.
func linesFor(logs, cluster string) string {
	var b strings.Builder
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line+" ", " cluster="+cluster+" ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// hubGoroutines is the hub's go_goroutines (the total of its
// /debug/pprof/goroutine), -1 when it cannot be read.
func hubGoroutines(h *hubProc) int { return metric(h.url+"/metrics", "go_goroutines") }

// bounded runs f(0..n-1) on width goroutines.
func bounded(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// waitFor polls cond until it holds or timeout passes, and reports which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
