// Command fleet measures one hub against a fleet of simulated agents. It
// starts the real hub binary as a separate process (so that the two share no
// file-descriptor budget), joins N clusters, and runs N agents in this process
// with the agent's real tunnel client (package agent/tunnel) over loopback,
// each with a fake inventory and an applier that only records what it is
// asked to apply. It prints:
//
//   - the time for all N agents to connect from a cold start,
//   - the hub's memory per connected agent,
//   - the time from approving a business to every agent acknowledging its
//     namespace,
//   - the time for all N agents to reconnect and resync after a hub restart.
//
// Every phase has a deadline; the program stops by itself.
//
// With -replicas R (PostgreSQL: a DSN, or -db private for a server of its
// own), R hub replicas share the database and the agents run in -procs
// worker processes (replicas.go): it prints, per replica, the sessions and
// memory per agent after the cold start, the approval's fan-out through
// replica 0 to the agents of every replica, and how long the agents of a
// SIGKILLed replica take to reconnect to the others.
//
//	go run ./test/fleet -n 1000
//	go run ./test/fleet -n 10000 -db postgres://...
//	go run ./test/fleet -n 50000 -replicas 4 -procs 3 -db private
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ote-stack/ote/agent/tunnel"
	"github.com/ote-stack/ote/pkg/backoff"
	"github.com/ote-stack/ote/protocol"
)

// profileDir, when set, receives the hub's profiles (see -profile).
var (
	idle           time.Duration
	kill           bool
	profileDir     string
	profileSeconds time.Duration
)

const (
	adminPass = "Fleet-admin1"
	bootstrap = "fleet-bootstrap-token-0001"
)

func main() {
	n := flag.Int("n", 1000, "number of simulated agents")
	nodes := flag.Int("nodes", 3, "nodes per simulated cluster")
	db := flag.String("db", "", "hub database: a DSN, or private for a PostgreSQL server of the fleet's own (-replicas); default SQLite in a temporary directory")
	hubBin := flag.String("hub-bin", "", "hub binary (default: built from ./hub/cmd/hub)")
	heartbeat := flag.Duration("heartbeat", 10*time.Second, "hub heartbeat interval")
	dialers := flag.Int("dial-concurrency", 512, "agents dialing at once during the cold start")
	flag.DurationVar(&idle, "idle", 0, "after the cold start, stay idle this long and report the hub's memory and CPU per agent (e.g. 5m)")
	flag.BoolVar(&kill, "kill", false, "after the graceful restart, SIGKILL the hub, start it again and time the agents' return")
	flag.DurationVar(&profileSeconds, "profile-seconds", 20*time.Second, "length of the CPU profiles")
	flag.StringVar(&profileDir, "profile", "", "directory for the hub's profiles: CPU of the cold start and of the restart, heap and goroutines once connected")
	replicas := flag.Int("replicas", 1, "hub replicas sharing -db (PostgreSQL), each agent held by one; with more than 1, the agents run in -procs processes of their own")
	procs := flag.Int("procs", 3, "with -replicas: processes the agents run in (each under the machine's open-file limit)")
	worker := flag.String("worker", "", "internal: run the agents listed in this file, driven by the coordinator on stdin")
	hubs := flag.String("hubs", "", "internal: the replicas' addresses, for -worker")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	switch {
	case *worker != "":
		err = runWorker(*worker, strings.Split(*hubs, ","), *nodes, *dialers, log)
	case *replicas > 1:
		err = runReplicas(*n, *nodes, *db, *hubBin, *heartbeat, *replicas, *procs, *dialers)
	default:
		err = run(*n, *nodes, *db, *hubBin, *heartbeat, *dialers, log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

type hubProcess struct {
	cmd   *exec.Cmd
	addr  string
	debug string // the hub's --debug-listen address, with -profile
	done  chan struct{}
}

// profile saves the hub's profile kind (heap, goroutine, or profile for CPU
// with query seconds=N) as profileDir/name. It does nothing without -profile.
func (h *hubProcess) profile(kind, query, name string) error {
	if profileDir == "" {
		return nil
	}
	resp, err := http.Get("http://" + h.debug + "/debug/pprof/" + kind + "?" + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(profileDir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// profileCPU records a CPU profile of the next d in the background; wait
// returns when it is saved.
func (h *hubProcess) profileCPU(d time.Duration, name string) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.profile("profile", fmt.Sprintf("seconds=%d", int(d.Seconds())), name); err != nil {
			fmt.Fprintln(os.Stderr, "fleet: profile:", err)
		}
	}()
	return func() { <-done }
}

func startHub(bin, addr, dataDir, db string, heartbeat time.Duration, extra ...string) (*hubProcess, error) {
	args := []string{"--listen", addr, "--registry-listen", "off", "--data-dir", dataDir, "--admin-password", adminPass,
		"--agent-bootstrap-token", bootstrap, "--heartbeat-interval", heartbeat.String(), "--log-level", "warn"}
	args = append(args, extra...)
	if db != "" {
		args = append(args, "--db", db)
	}
	var debug string
	if profileDir != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		debug = ln.Addr().String()
		ln.Close()
		args = append(args, "--debug-listen", debug)
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.OpenFile(filepath.Join(dataDir, "hub.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hubProcess{cmd: cmd, addr: addr, debug: debug, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(h.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h, nil
			}
		}
		select {
		case <-h.done:
			return nil, fmt.Errorf("hub exited; see %s", filepath.Join(dataDir, "hub.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("hub not ready")
}

// startAgents runs a tunnel client for each agent, configured by cfg, on
// wg until ctx ends; at most dialers are connecting at once, as a rollout
// would.
func startAgents(ctx context.Context, wg *sync.WaitGroup, agents []*simAgent, dialers int, cfg func(*simAgent) tunnel.Config) error {
	sem := make(chan struct{}, dialers)
	for _, a := range agents {
		c, err := tunnel.New(cfg(a))
		if err != nil {
			return err
		}
		a.client = c
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
		go func() {
			for !c.Connected() && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			<-sem
		}()
	}
	return nil
}

// buildHub returns bin, or the hub built into dir when bin is empty.
func buildHub(bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "hub")
	build := exec.Command("go", "build", "-o", bin, "./hub/cmd/hub")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build hub (run from the repository root): %w", err)
	}
	return bin, nil
}

func (h *hubProcess) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

// cpu is the hub's user and system CPU time so far.
func (h *hubProcess) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which is in parentheses):
	// utime and stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// machineCPU is the CPU time all processes of the machine have spent so
// far (the database server's too), from /proc/stat.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// selfCPU is this process's user and system CPU time so far: the
// simulated agents'.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss is the hub's resident memory in bytes.
func (h *hubProcess) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// simAgent is one simulated cluster's agent: the real tunnel client with fake
// cluster-side parts.
type simAgent struct {
	name   string
	cred   string
	nodes  []protocol.Node
	client *tunnel.Client
	acked  atomic.Int64 // unix nanos when the watched namespace was applied
	watch  *atomic.Value
}

func (a *simAgent) Load(context.Context, string) (string, error) { return a.cred, nil }
func (a *simAgent) Save(context.Context, string, string) error   { return nil }
func (a *simAgent) Snapshot() []protocol.Node                    { return a.nodes }
func (a *simAgent) Delta() ([]protocol.Node, []string)           { return nil, nil }
func (a *simAgent) Changed() <-chan struct{}                     { return nil }
func (a *simAgent) Apply(_ context.Context, it protocol.Item) error {
	if w, _ := a.watch.Load().(string); w != "" && it.Name == w && a.acked.Load() == 0 {
		a.acked.Store(time.Now().UnixNano())
	}
	return nil
}

func run(n, nodesPer int, db, hubBin string, heartbeat time.Duration, dialers int, log *slog.Logger) (err error) {
	work, err := os.MkdirTemp("", "ote-fleet")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Kept for a look at what went wrong: the hub's log is there.
			fmt.Fprintf(os.Stderr, "fleet: the hub's data directory and log are kept in %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()
	if hubBin, err = buildHub(hubBin, work); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	hub, err := startHub(hubBin, addr, work, db, heartbeat)
	if err != nil {
		return err
	}
	defer func() { hub.stop() }()
	base := "http://" + addr
	fmt.Printf("fleet: %d agents x %d nodes against one hub (%s, heartbeat %v), GOMAXPROCS-limited machine with %d cores\n",
		n, nodesPer, dbName(db), heartbeat, numCPU())

	// Join every cluster (not timed: a one-time act).
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	watch := &atomic.Value{}
	watch.Store("")
	agents := make([]*simAgent, n)
	joinStart := time.Now()
	var joinErr atomic.Value
	parallel(n, 64, func(i int) {
		a := &simAgent{name: fmt.Sprintf("sim-%05d", i), watch: watch}
		for j := 0; j < nodesPer; j++ {
			a.nodes = append(a.nodes, protocol.Node{Name: fmt.Sprintf("node-%d", j), OperatingSystem: "linux", CPU: 8, Memory: 32 << 30, Disk: 200 << 30, Ready: true, IP: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j)})
		}
		cred, err := join(httpc, base, a.name)
		if err != nil {
			joinErr.Store(err)
			return
		}
		a.cred = cred
		agents[i] = a
	})
	if err, _ := joinErr.Load().(error); err != nil {
		return err
	}
	fmt.Printf("joined %d clusters in %v\n", n, time.Since(joinStart).Round(time.Millisecond))
	rssBefore := hub.rss()

	// Cold start: every agent dials, with bounded concurrency as a rollout would.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	waitCPU := hub.profileCPU(profileSeconds, "cold-start.cpu.pprof")
	hubCPU0, selfCPU0, allCPU0 := hub.cpu(), selfCPU(), machineCPU()
	coldStart := time.Now()
	if err := startAgents(ctx, &wg, agents, dialers, func(a *simAgent) tunnel.Config {
		return tunnel.Config{HubURL: base, ClusterName: a.name, Credentials: a, Inventory: a, Applier: a, Log: log,
			Backoff: backoff.New(500*time.Millisecond, 10*time.Second)}
	}); err != nil {
		return err
	}
	if err := waitAll(agents, 5*time.Minute, func(a *simAgent) bool { return a.client.Resyncs() >= 1 }); err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	connectTime := time.Since(coldStart)
	fmt.Printf("cold start: all %d agents connected and synced in %v%s (CPU: hub %v, the agents' process %v, the whole machine %v, of %v on %d cores)\n",
		n, connectTime.Round(time.Millisecond), extraSessions(agents, 1), (hub.cpu() - hubCPU0).Round(10*time.Millisecond), (selfCPU() - selfCPU0).Round(10*time.Millisecond),
		(machineCPU() - allCPU0).Round(10*time.Millisecond), (connectTime * time.Duration(numCPU())).Round(10*time.Millisecond), numCPU())
	time.Sleep(2 * time.Second) // let inventories land
	rssAfter := hub.rss()
	waitCPU()
	for _, p := range []string{"heap", "goroutine"} {
		if err := hub.profile(p, "", "connected."+p+".pprof"); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	fmt.Printf("hub memory: %.1f MiB before, %.1f MiB with %d agents: %.1f KiB per agent\n",
		mib(rssBefore), mib(rssAfter), n, float64(rssAfter-rssBefore)/1024/float64(n))

	if idle > 0 {
		// Idle: heartbeats only. The hub's CPU per agent, and its memory
		// once the idle sessions have settled.
		cpu0, t0 := hub.cpu(), time.Now()
		time.Sleep(idle)
		cpu, el := hub.cpu()-cpu0, time.Since(t0)
		rssIdle := hub.rss()
		fmt.Printf("idle %v: hub CPU %.2f%% of a core in all, %.1f µs per agent per second; memory %.1f MiB: %.1f KiB per agent\n",
			el.Round(time.Second), 100*cpu.Seconds()/el.Seconds(), 1e6*cpu.Seconds()/el.Seconds()/float64(n),
			mib(rssIdle), float64(rssIdle-rssBefore)/1024/float64(n))
		if err := hub.profile("heap", "", "idle.heap.pprof"); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}

	// Approve a business; time until every agent has applied its namespace.
	root, err := login(httpc, base)
	if err != nil {
		return err
	}
	ns, approve, err := prepareBusiness(httpc, base, root)
	if err != nil {
		return err
	}
	watch.Store(ns)
	t0 := time.Now()
	if err := approve(); err != nil {
		return err
	}
	if err := waitAll(agents, 2*time.Minute, func(a *simAgent) bool { return a.acked.Load() != 0 }); err != nil {
		return fmt.Errorf("fan-out: %w", err)
	}
	lat := make([]time.Duration, n)
	for i, a := range agents {
		lat[i] = time.Duration(a.acked.Load() - t0.UnixNano())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("approval to namespace applied by every agent: all %v (p50 %v, p99 %v)\n",
		lat[n-1].Round(time.Millisecond), lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond))

	// Audit approval of a deployment to all clusters; time until every agent
	// has applied the workload.
	workload, approveDeploy, err := prepareDeploy(httpc, base, root, ns)
	if err != nil {
		return err
	}
	for _, a := range agents {
		a.acked.Store(0)
	}
	watch.Store(workload)
	t0 = time.Now()
	if err := approveDeploy(); err != nil {
		return err
	}
	if err := waitAll(agents, 2*time.Minute, func(a *simAgent) bool { return a.acked.Load() != 0 }); err != nil {
		return fmt.Errorf("deployment fan-out: %w", err)
	}
	for i, a := range agents {
		lat[i] = time.Duration(a.acked.Load() - t0.UnixNano())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("deployment audit approval to workload applied by every agent: all %v (p50 %v, p99 %v)\n",
		lat[n-1].Round(time.Millisecond), lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond))

	// Hub restart: all agents reconnect and resync.
	for _, a := range agents {
		a.acked.Store(0)
	}
	hub.stop()
	restart, selfCPU0 := time.Now(), selfCPU()
	hub, err = startHub(hubBin, addr, work, db, heartbeat)
	if err != nil {
		return err
	}
	hubUp := time.Since(restart)
	hubCPU0 = hub.cpu()
	waitCPU = hub.profileCPU(profileSeconds, "restart.cpu.pprof")
	defer waitCPU()
	if err := waitAll(agents, 5*time.Minute, func(a *simAgent) bool { return a.client.Resyncs() >= 2 }); err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	back := time.Since(restart)
	fmt.Printf("hub restart: hub ready in %v; all %d agents reconnected and resynced %v after the restart began%s (CPU after ready: hub %v; the agents' process %v)\n",
		hubUp.Round(time.Millisecond), n, back.Round(time.Millisecond), extraSessions(agents, 2),
		(hub.cpu() - hubCPU0).Round(10*time.Millisecond), (selfCPU() - selfCPU0).Round(10*time.Millisecond))
	if !kill {
		return nil
	}
	// SIGKILL: no come-back hints; the agents' backoff brings them back.
	waitCPU()
	_ = hub.cmd.Process.Kill()
	<-hub.done
	restart = time.Now()
	hub, err = startHub(hubBin, addr, work, db, heartbeat)
	if err != nil {
		return err
	}
	hubUp = time.Since(restart)
	waitCPU = hub.profileCPU(profileSeconds, "kill.cpu.pprof")
	if err := waitAll(agents, 5*time.Minute, func(a *simAgent) bool { return a.client.Resyncs() >= 3 }); err != nil {
		return fmt.Errorf("reconnect after SIGKILL: %w", err)
	}
	fmt.Printf("hub SIGKILLed and started again: ready in %v; all %d agents reconnected and resynced %v after the kill%s\n",
		hubUp.Round(time.Millisecond), n, time.Since(restart).Round(time.Millisecond), extraSessions(agents, 3))
	return nil
}

// extraSessions names the agents that resynced more often than want: their
// session ended once more than the restarts explain.
func extraSessions(agents []*simAgent, want uint64) string {
	extra := 0
	for _, a := range agents {
		if a.client.Resyncs() > want {
			extra++
		}
	}
	if extra == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d agents resynced more than once: a session ended early)", extra)
}

func dbName(db string) string {
	if db == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// waitAll polls until cond holds for every agent.
func waitAll(agents []*simAgent, timeout time.Duration, cond func(*simAgent) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, a := range agents {
			if !cond(a) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents not there after %v", missing, len(agents), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parallel(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func call(c *http.Client, method, url, token string, hdr map[string]string, body any, out any) error {
	var rd io.Reader // GET requests take no body (the hub answers 413)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, env.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func join(c *http.Client, base, name string) (string, error) {
	var jr protocol.JoinResponse
	err := call(c, "POST", base+protocol.JoinPath, "", map[string]string{protocol.HeaderBootstrapToken: bootstrap}, protocol.JoinRequest{ClusterName: name}, &jr)
	return jr.Credential, err
}

func login(c *http.Client, base string) (string, error) {
	var t struct{ Token string }
	err := call(c, "POST", base+"/v1/authorization", "", nil, map[string]string{"user": "admin", "password": adminPass}, &t)
	return t.Token, err
}

// prepareDeploy has a general user of the business create an app and a
// deployment to every cluster; approve approves its audit request.
func prepareDeploy(c *http.Client, base, root, ns string) (string, func() error, error) {
	var owner struct{ Token string }
	if err := call(c, "POST", base+"/v1/authorization", "", nil, map[string]string{"user": "fleetowner", "password": "Fleet-owner1"}, &owner); err != nil {
		return "", nil, err
	}
	if err := call(c, "POST", base+"/v1/admin/user", owner.Token, nil, map[string]any{"user": "fleetdev", "password": "Fleet-dev1", "phone": "13800000000", "isAdmin": false, "realName": "D"}, nil); err != nil {
		return "", nil, err
	}
	var dev struct{ Token string }
	if err := call(c, "POST", base+"/v1/authorization", "", nil, map[string]string{"user": "fleetdev", "password": "Fleet-dev1"}, &dev); err != nil {
		return "", nil, err
	}
	app := map[string]any{"appName": "fleet-web", "deployType": "deployment", "image": "registry.example.com/web:1.0", "version": "1.0",
		"port": []map[string]any{{"containerPort": 80}}, "minCPU": 10, "maxCPU": 100, "minMemory": 64, "maxMemory": 128,
		"isHPA": false, "targetCPUUtilization": 0, "targetMemUtilization": 0, "maxUnavailable": 1, "maxSurge": 1, "minReadySeconds": 0}
	if err := call(c, "POST", base+"/v1/app", dev.Token, nil, app, nil); err != nil {
		return "", nil, err
	}
	var d struct{ ID uint64 }
	if err := call(c, "POST", base+"/v1/deploy", dev.Token, nil, map[string]any{"deployName": "fleet-web", "appName": "fleet-web", "version": "1.0", "cluster": "", "nodeLabel": "", "comment": "bench"}, &d); err != nil {
		return "", nil, err
	}
	var reqs []struct {
		ID       uint64 `json:"id"`
		DeployID uint64 `json:"deployId"`
	}
	if err := call(c, "GET", base+"/v1/admin/deploy", root, nil, nil, &reqs); err != nil {
		return "", nil, err
	}
	var reqID uint64
	for _, r := range reqs {
		if r.DeployID == d.ID {
			reqID = r.ID
		}
	}
	approve := func() error {
		return call(c, "PUT", base+"/v1/admin/deploy", root, nil, map[string]any{"id": reqID, "status": 1, "comment": "go"}, nil)
	}
	return ns + "/fleet-web", approve, nil
}

// prepareBusiness creates an approved administrator and its pending business;
// approve approves the business.
func prepareBusiness(c *http.Client, base, root string) (string, func() error, error) {
	var u struct{ ID uint64 }
	if err := call(c, "POST", base+"/v1/user", "", nil, map[string]any{"user": "fleetowner", "password": "Fleet-owner1", "phone": "13800000000", "isAdmin": true, "realName": "F"}, &u); err != nil {
		return "", nil, err
	}
	if err := call(c, "PUT", fmt.Sprintf("%s/v1/admin/user/%d", base, u.ID), root, nil, map[string]any{"status": 1}, nil); err != nil {
		return "", nil, err
	}
	var tok struct{ Token string }
	if err := call(c, "POST", base+"/v1/authorization", "", nil, map[string]string{"user": "fleetowner", "password": "Fleet-owner1"}, &tok); err != nil {
		return "", nil, err
	}
	var b struct{ ID uint64 }
	if err := call(c, "POST", base+"/v1/business", tok.Token, nil, map[string]any{"name": "fleet", "introduce": "i", "objective": "o", "scale": "s"}, &b); err != nil {
		return "", nil, err
	}
	approve := func() error {
		return call(c, "PUT", fmt.Sprintf("%s/v1/business/id/%d", base, b.ID), root, nil, map[string]any{"status": 1, "comment": "go"}, nil)
	}
	return fmt.Sprintf("ns%d", b.ID), approve, nil
}
