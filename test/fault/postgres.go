package fault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// pgBin is where Debian keeps PostgreSQL 15's server programs.
const pgBin = "/usr/lib/postgresql/15/bin"

// Postgres is a PostgreSQL server of one test's own, in a data directory
// of its own, run as the postgres user in a process group of its own: a
// test can stop, restart, pause or kill it without touching the machine's
// server, which other test packages use at the same time.
type Postgres struct {
	// DSN connects to its database "ote" as the superuser "ote".
	DSN  string
	Port string

	dir string
	uid uint32
	gid uint32

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer
}

// NewPostgres initialises and starts a server; it is stopped and removed
// when the test ends.
func NewPostgres(t TB) *Postgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		t.Fatalf("fault: PostgreSQL 15 is not installed (%v)", err)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not under t.TempDir: its parents are closed to the postgres user.
	dir, err := os.MkdirTemp("", "ote-fault-pg-")
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("fault: %v", err)
	}
	p := &Postgres{dir: dir, uid: uint32(uid), gid: uint32(gid)}
	if out, err := p.command(filepath.Join(pgBin, "initdb"), "-D", p.data(), "-U", "ote", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("fault: initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	_, p.Port, _ = net.SplitHostPort(ln.Addr().String())
	ln.Close()
	p.DSN = fmt.Sprintf("postgres://ote@127.0.0.1:%s/ote?sslmode=disable", p.Port)
	t.Cleanup(func() {
		p.Kill()
		if t, ok := t.(interface{ Failed() bool }); ok && t.Failed() {
			fmt.Fprintf(os.Stderr, "private PostgreSQL's log (tail):\n%s\n", tail(p.Logs(), 3000))
		}
	})
	p.Start(t)
	if out, err := exec.Command(filepath.Join(pgBin, "createdb"), "-h", "127.0.0.1", "-p", p.Port, "-U", "ote", "ote").CombinedOutput(); err != nil {
		t.Fatalf("fault: createdb: %v: %s", err, out)
	}
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid},
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start(t TB) {
	t.Helper()
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		t.Fatalf("fault: PostgreSQL is already running")
	}
	cmd := p.command(filepath.Join(pgBin, "postgres"), "-D", p.data(), "-p", p.Port, "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = &lockedWriter{p}, &lockedWriter{p}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		t.Fatalf("fault: start PostgreSQL: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, filepath.Join(pgBin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", p.Port).CombinedOutput()
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("fault: PostgreSQL exited at start:\n%s", p.Logs())
		case <-ctx.Done():
			t.Fatalf("fault: PostgreSQL not ready after 30s: %s\n%s", out, p.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down in "fast" mode (clients are disconnected,
// as in a planned restart) and waits for it to exit.
func (p *Postgres) Stop(t TB) {
	t.Helper()
	if !p.signal(syscall.SIGINT, false) {
		t.Fatalf("fault: PostgreSQL is not running")
	}
	p.wait()
}

// Restart is Stop then Start.
func (p *Postgres) Restart(t TB) {
	t.Helper()
	p.Stop(t)
	p.Start(t)
}

// Kill ends every process of the server at once, as a crash would; the
// next Start recovers from the WAL.
func (p *Postgres) Kill() {
	if p.signal(syscall.SIGKILL, true) {
		p.wait()
	}
}

// Pause stops every process of the server (SIGSTOP): connections stay
// open and nothing answers.
func (p *Postgres) Pause() { p.signal(syscall.SIGSTOP, true) }

// Resume continues a paused server.
func (p *Postgres) Resume() { p.signal(syscall.SIGCONT, true) }

func (p *Postgres) signal(sig syscall.Signal, group bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	pid := p.cmd.Process.Pid
	if group {
		pid = -pid
	}
	return syscall.Kill(pid, sig) == nil
}

func (p *Postgres) wait() {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return
	}
	<-done
	p.mu.Lock()
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
}

// Logs is what the server printed.
func (p *Postgres) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

type lockedWriter struct{ p *Postgres }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.logs.Len() > 4<<20 {
		w.p.logs.Reset()
	}
	return w.p.logs.Write(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
