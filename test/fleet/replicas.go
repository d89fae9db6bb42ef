package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
	"github.com/ote-stack/ote/test/fault"
)

// With -replicas R, the fleet runs R hub processes on one PostgreSQL and
// the agents in -procs worker processes of its own binary (this machine
// allows 20,000 open files a process), agent i held by replica i mod R.
// The workers are driven over their stdin and answer on their stdout, a
// line each:
//
//	worker → "ready"                 every agent connected and resynced once
//	"watch NAME T0" → "acked NS..."  every agent applied item NAME; the
//	                                 nanoseconds from T0 (unix nanos), each
//	"back R" → "back"                every agent of replica R is connected
//	                                 again (to another) and resynced twice
//	"quit" or EOF                    stop
//
// An agent dials its replica and, when that one refuses, another one at
// random: what a Service in front of the replicas gives, without a proxy
// process between 50,000 connections and their hubs.

// replicaKeys are shared by the replicas, as a deployment would.
const (
	replicaJWTKey    = "fleet-replicas-jwt-key-0123456789abcdef"
	replicaSecretKey = "fleet-replicas-secret-key-0123456789abcdef"
)

type worker struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies chan string
	done    chan struct{}
}

func (w *worker) send(line string) error {
	_, err := io.WriteString(w.in, line+"\n")
	return err
}

// reply waits for the worker's next line that starts with prefix.
func (w *worker) reply(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-w.replies:
			if !ok {
				return "", errors.New("worker exited")
			}
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(line, prefix)), nil
			}
		case <-deadline:
			return "", fmt.Errorf("no %q from a worker within %v", prefix, timeout)
		}
	}
}

func runReplicas(n, nodesPer int, db, hubBin string, heartbeat time.Duration, r, procs, dialers int) (err error) {
	if db == "private" {
		dsn, stop, err := privatePostgres()
		if err != nil {
			return err
		}
		defer stop()
		db = dsn
	}
	if !strings.HasPrefix(db, "postgres") {
		return errors.New("-replicas needs -db postgres://... or -db private (replicas share PostgreSQL)")
	}
	work, err := os.MkdirTemp("", "ote-fleet")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "fleet: the hubs' and workers' logs are kept in %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()
	if hubBin, err = buildHub(hubBin, work); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	hubs := make([]*hubProcess, r)
	addrs := make([]string, r)
	defer func() {
		for _, h := range hubs {
			if h != nil {
				h.stop()
			}
		}
	}()
	for i := range r {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
		dir := filepath.Join(work, fmt.Sprintf("hub-%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		// One at a time: the first one migrates the database.
		if hubs[i], err = startHub(hubBin, addrs[i], dir, db, heartbeat, "--jwt-key", replicaJWTKey, "--secret-key", replicaSecretKey); err != nil {
			return err
		}
	}
	base := "http://" + addrs[0]
	fmt.Printf("fleet: %d agents x %d nodes over %d hub replicas (%s, heartbeat %v) in %d agent processes, %d cores\n",
		n, nodesPer, r, dbName(db), heartbeat, procs, numCPU())

	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	creds := make([]string, n)
	var joinErr atomic.Value
	joinStart := time.Now()
	parallel(n, 64, func(i int) {
		c, err := join(httpc, "http://"+addrs[i%r], simName(i))
		if err != nil {
			joinErr.Store(err)
			return
		}
		creds[i] = c
	})
	if err, _ := joinErr.Load().(error); err != nil {
		return err
	}
	fmt.Printf("joined %d clusters in %v\n", n, time.Since(joinStart).Round(time.Millisecond))

	rssBefore := make([]int64, r)
	cpu0 := make([]time.Duration, r)
	for i, h := range hubs {
		rssBefore[i], cpu0[i] = h.rss(), h.cpu()
	}
	allCPU0 := machineCPU()
	coldStart := time.Now()
	workers := make([]*worker, procs)
	defer func() {
		for _, w := range workers {
			if w != nil {
				_ = w.send("quit")
				w.in.Close()
				select {
				case <-w.done:
				case <-time.After(30 * time.Second):
					_ = w.cmd.Process.Kill()
					<-w.done
				}
			}
		}
	}()
	for k := range procs {
		var list strings.Builder
		for i := k; i < n; i += procs {
			fmt.Fprintf(&list, "%s %s %d\n", simName(i), creds[i], i%r)
		}
		file := filepath.Join(work, fmt.Sprintf("agents-%d", k))
		if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
			return err
		}
		if workers[k], err = startWorker(self, file, filepath.Join(work, fmt.Sprintf("worker-%d.log", k)), addrs, nodesPer, max(dialers/procs, 1)); err != nil {
			return err
		}
	}
	for _, w := range workers {
		if _, err := w.reply("ready", 10*time.Minute); err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
	}
	cold := time.Since(coldStart)
	fmt.Printf("cold start: all %d agents connected and synced in %v (CPU of the whole machine %v of %v on %d cores)\n",
		n, cold.Round(time.Millisecond), (machineCPU() - allCPU0).Round(10*time.Millisecond), (cold * time.Duration(numCPU())).Round(10*time.Millisecond), numCPU())
	time.Sleep(2 * time.Second) // let inventories land
	sessions := 0
	for i, h := range hubs {
		s := hubSessions(addrs[i])
		sessions += s
		rss := h.rss()
		fmt.Printf("  replica %d: %d sessions, memory %.1f MiB before, %.1f MiB after: %.1f KiB per agent; cold-start CPU %v\n",
			i, s, mib(rssBefore[i]), mib(rss), float64(rss-rssBefore[i])/1024/float64(max(s, 1)), (h.cpu() - cpu0[i]).Round(10*time.Millisecond))
	}
	if sessions != n {
		return fmt.Errorf("%d sessions over the replicas for %d agents", sessions, n)
	}

	// Approve a business through replica 0: every agent, on every
	// replica, applies its namespace.
	root, err := login(httpc, base)
	if err != nil {
		return err
	}
	ns, approve, err := prepareBusiness(httpc, base, root)
	if err != nil {
		return err
	}
	t0 := time.Now()
	for _, w := range workers {
		if err := w.send(fmt.Sprintf("watch %s %d", ns, t0.UnixNano())); err != nil {
			return err
		}
	}
	if err := approve(); err != nil {
		return err
	}
	var lat []time.Duration
	for _, w := range workers {
		line, err := w.reply("acked", 3*time.Minute)
		if err != nil {
			return fmt.Errorf("fan-out: %w", err)
		}
		for _, f := range strings.Fields(line) {
			v, _ := strconv.ParseInt(f, 10, 64)
			lat = append(lat, time.Duration(v))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("approval through replica 0 to namespace applied by every agent (held by %d replicas): all %v (p50 %v, p99 %v)\n",
		r, lat[len(lat)-1].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond))

	// SIGKILL the last replica: its agents go to the others.
	victim := r - 1
	held := hubSessions(addrs[victim])
	killed := time.Now()
	_ = hubs[victim].cmd.Process.Kill()
	<-hubs[victim].done
	hubs[victim] = nil
	for _, w := range workers {
		if err := w.send(fmt.Sprintf("back %d", victim)); err != nil {
			return err
		}
	}
	for _, w := range workers {
		if _, err := w.reply("back", 5*time.Minute); err != nil {
			return fmt.Errorf("after the kill: %w", err)
		}
	}
	back := time.Since(killed)
	sessions = 0
	var per []string
	for i := range hubs {
		if i != victim {
			s := hubSessions(addrs[i])
			sessions += s
			per = append(per, fmt.Sprintf("replica %d: %d", i, s))
		}
	}
	fmt.Printf("replica %d SIGKILLed with %d sessions: all of them reconnected to the others and resynced in %v; sessions now %s (%d in all)\n",
		victim, held, back.Round(time.Millisecond), strings.Join(per, ", "), sessions)
	return nil
}

func simName(i int) string { return fmt.Sprintf("sim-%05d", i) }

// hubSessions reads ote_hub_tunnel_sessions from a replica's /metrics.
func hubSessions(addr string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ote_hub_tunnel_sessions "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

func startWorker(self, file, logFile string, hubs []string, nodesPer, dialers int) (*worker, error) {
	cmd := exec.Command(self, "-worker", file, "-hubs", strings.Join(hubs, ","), "-nodes", strconv.Itoa(nodesPer), "-dial-concurrency", strconv.Itoa(dialers))
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{cmd: cmd, in: in, replies: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			w.replies <- sc.Text()
		}
		close(w.replies)
	}()
	go func() { _ = cmd.Wait(); logf.Close(); close(w.done) }()
	return w, nil
}

// workerAgent is a simAgent held by one replica.
type workerAgent struct {
	*simAgent
	replica int
}

func runWorker(file string, hubs []string, nodesPer, dialers int, log *slog.Logger) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	watch := &atomic.Value{}
	watch.Store("")
	var agents []*workerAgent
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("agent list line %q", line)
		}
		rep, _ := strconv.Atoi(f[2])
		a := &simAgent{name: f[0], cred: f[1], watch: watch}
		for j := range nodesPer {
			a.nodes = append(a.nodes, protocol.Node{Name: fmt.Sprintf("node-%d", j), OperatingSystem: "linux", CPU: 8, Memory: 32 << 30, Disk: 200 << 30, Ready: true, IP: fmt.Sprintf("10.%d.%d.%d", i/250%250, i%250, j)})
		}
		agents = append(agents, &workerAgent{simAgent: a, replica: rep})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var outMu sync.Mutex
	say := func(s string) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Println(s)
	}
	all := make([]*simAgent, len(agents))
	replicaOf := map[*simAgent]int{}
	for i, a := range agents {
		all[i] = a.simAgent
		replicaOf[a.simAgent] = a.replica
	}
	err = startAgents(ctx, &wg, all, dialers, func(a *simAgent) tunnel.Config {
		own := hubs[replicaOf[a]]
		// Its own replica first; another at random when that one refuses.
		dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, own)
			if err == nil {
				return c, nil
			}
			for _, i := range rand.Perm(len(hubs)) {
				if hubs[i] == own {
					continue
				}
				if c, err2 := d.DialContext(ctx, network, hubs[i]); err2 == nil {
					return c, nil
				}
			}
			return nil, err
		}
		return tunnel.Config{HubURL: "http://" + own, ClusterName: a.name, Credentials: a, Inventory: a, Applier: a, Log: log,
			Backoff: backoff.New(500*time.Millisecond, 10*time.Second), DialTunnel: dial}
	})
	if err != nil {
		return err
	}
	if err := waitAll(all, 10*time.Minute, func(a *simAgent) bool { return a.client.Resyncs() >= 1 }); err != nil {
		return err
	}
	say("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "watch":
			t0, _ := strconv.ParseInt(f[2], 10, 64)
			for _, a := range all {
				a.acked.Store(0)
			}
			watch.Store(f[1])
			if err := waitAll(all, 3*time.Minute, func(a *simAgent) bool { return a.acked.Load() != 0 }); err != nil {
				return err
			}
			var line strings.Builder
			line.WriteString("acked")
			for _, a := range all {
				line.WriteString(" " + strconv.FormatInt(a.acked.Load()-t0, 10))
			}
			say(line.String())
		case "back":
			victim, _ := strconv.Atoi(f[1])
			var theirs []*simAgent
			for _, a := range agents {
				if a.replica == victim {
					theirs = append(theirs, a.simAgent)
				}
			}
			if err := waitAll(theirs, 5*time.Minute, func(a *simAgent) bool { return a.client.Connected() && a.client.Resyncs() >= 2 }); err != nil {
				return err
			}
			say("back")
		case "quit":
			return nil
		}
	}
	return nil
}

// privatePostgres runs a PostgreSQL server of the fleet's own (test/fault's,
// max_connections 200, fsync off) for -db private: replicas need more
// connections than a stock server's 100, and a fleet should not take them
// from whatever else uses the machine's server. stop removes it.
func privatePostgres() (dsn string, stop func(), err error) {
	tb := &runTB{}
	defer func() {
		if r := recover(); r != nil {
			tb.cleanup()
			err = fmt.Errorf("private PostgreSQL: %v", r)
		}
	}()
	pg := fault.NewPostgres(tb)
	return pg.DSN, tb.cleanup, nil
}

// runTB is the part of testing.TB that test/fault needs, for a program: a
// fatal error panics (privatePostgres recovers it), cleanups run at stop.
type runTB struct {
	mu       sync.Mutex
	cleanups []func()
}

func (*runTB) Helper()                        {}
func (*runTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*runTB) Skipf(format string, a ...any)  { panic(fmt.Sprintf(format, a...)) }
func (*runTB) Logf(format string, a ...any)   { fmt.Fprintf(os.Stderr, format+"\n", a...) }
func (t *runTB) Cleanup(f func())             { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }
func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "ote-fleet-tb")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (t *runTB) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
