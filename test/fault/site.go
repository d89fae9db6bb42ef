package fault

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Direction says which way a cut drops traffic.
type Direction int

const (
	// ToSite drops what the outside (the hub) sends to the site.
	ToSite Direction = 1 << iota
	// FromSite drops what the site sends out.
	FromSite
	// Both drops both ways.
	Both = ToSite | FromSite
)

func (d Direction) String() string {
	switch d {
	case ToSite:
		return "to the site"
	case FromSite:
		return "from the site"
	case Both:
		return "both ways"
	}
	return "nowhere"
}

// Link is one veth pair between the test's namespace (Outer) and a site's
// (Inner), a /30 of its own.
type Link struct {
	// OuterIP is the address on the test's side: where the site dials.
	OuterIP string
	// InnerIP is the site's address on this link.
	InnerIP  string
	outerDev string
	innerDev string
}

// Site is an edge site: a network namespace with a WAN link to the hub and
// a LAN link to its cluster, both to the test's own namespace, where the
// hub, the kube-apiservers and the test run. Routing picks the link by
// address: dial WAN.OuterIP for the hub, LAN.OuterIP for kube-apiserver
// (servers must listen on all addresses, or on these).
type Site struct {
	Name string
	WAN  Link
	LAN  Link
	ns   string

	mu  sync.Mutex
	cut Direction
}

var siteSeq atomic.Int32

var (
	octetOnce sync.Once
	octet     int
	octetErr  error
	octetLock *os.File // kept, or its finalizer would close it and drop the lock
)

// processOctet picks, once per process, a second address octet (100-199)
// that no other live process uses: it holds an exclusive lock on a file
// named after it for the rest of its life (the kernel drops the lock when
// the process ends, however it ends).
func processOctet() (int, error) {
	octetOnce.Do(func() {
		start := os.Getpid() % 100
		for i := range 100 {
			n := 100 + (start+i)%100
			f, err := os.OpenFile(fmt.Sprintf("%s/ote-fault-net-%d.lock", os.TempDir(), n), os.O_CREATE|os.O_RDWR, 0o600)
			if err != nil {
				octetErr = err
				return
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				octet, octetLock = n, f // the lock is held until exit
				return
			}
			f.Close()
		}
		octetErr = errorf("every address octet from 100 to 199 is taken by other processes")
	})
	return octet, octetErr
}

// nowhere is a locally administered hardware address that no interface has.
const nowhere = "02:00:00:00:de:ad"

// NewSite makes a site and removes it when the test ends.
func NewSite(t TB, name string) *Site {
	t.Helper()
	n := siteSeq.Add(1)
	if n > 250 {
		t.Fatalf("fault: more than 250 sites in one process")
	}
	// The second octet keeps processes apart (two test binaries may make
	// sites at once: each holds a lock on its own); the third is the site,
	// the fourth the two /30s.
	pid := os.Getpid()
	net2, err := processOctet()
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	s := &Site{
		Name: name,
		ns:   fmt.Sprintf("ote-%d-%d", pid, n),
		WAN: Link{
			OuterIP: fmt.Sprintf("10.%d.%d.1", net2, n), InnerIP: fmt.Sprintf("10.%d.%d.2", net2, n),
			outerDev: fmt.Sprintf("ow%d.%d", pid%100000, n), innerDev: "wan0",
		},
		LAN: Link{
			OuterIP: fmt.Sprintf("10.%d.%d.5", net2, n), InnerIP: fmt.Sprintf("10.%d.%d.6", net2, n),
			outerDev: fmt.Sprintf("ol%d.%d", pid%100000, n), innerDev: "lan0",
		},
	}
	run(t, "ip", "netns", "add", s.ns)
	t.Cleanup(func() { runQuiet(t, "ip", "netns", "del", s.ns) }) // takes the veths with it
	run(t, "ip", "-n", s.ns, "link", "set", "lo", "up")
	for _, l := range []Link{s.WAN, s.LAN} {
		run(t, "ip", "link", "add", l.outerDev, "type", "veth", "peer", "name", l.innerDev, "netns", s.ns)
		run(t, "ip", "addr", "add", l.OuterIP+"/30", "dev", l.outerDev)
		run(t, "ip", "link", "set", l.outerDev, "up")
		run(t, "ip", "-n", s.ns, "addr", "add", l.InnerIP+"/30", "dev", l.innerDev)
		run(t, "ip", "-n", s.ns, "link", "set", l.innerDev, "up")
	}
	return s
}

// Command is a command that runs inside the site's namespace (its PID is
// the program's own: `ip netns exec` execs it).
func (s *Site) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", s.ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Cut drops the WAN link's traffic in direction d (adding to any cut
// already made), silently, as a broken link would: frames are sent to a
// hardware address nobody has, so the peer's veth discards them. TCP sees
// nothing but silence, and retransmits.
func (s *Site) Cut(t TB, d Direction) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if d&ToSite != 0 && s.cut&ToSite == 0 {
		run(t, "ip", "neigh", "replace", s.WAN.InnerIP, "lladdr", nowhere, "nud", "permanent", "dev", s.WAN.outerDev)
	}
	if d&FromSite != 0 && s.cut&FromSite == 0 {
		run(t, "ip", "-n", s.ns, "neigh", "replace", s.WAN.OuterIP, "lladdr", nowhere, "nud", "permanent", "dev", s.WAN.innerDev)
	}
	s.cut |= d
}

// Heal restores the WAN link both ways.
func (s *Site) Heal(t TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut&ToSite != 0 {
		run(t, "ip", "neigh", "del", s.WAN.InnerIP, "dev", s.WAN.outerDev)
	}
	if s.cut&FromSite != 0 {
		run(t, "ip", "-n", s.ns, "neigh", "del", s.WAN.OuterIP, "dev", s.WAN.innerDev)
	}
	s.cut = 0
}

// Cuts says which way the WAN link is cut now.
func (s *Site) Cuts() Direction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut
}

// String names the site and its namespace, for logs.
func (s *Site) String() string {
	return s.Name + " (" + s.ns + ", " + strings.Join([]string{s.WAN.InnerIP, s.LAN.InnerIP}, " ") + ")"
}

// Dial opens a TCP connection from inside the site (a socket belongs to the
// namespace it was made in; the dialling thread enters the site's
// namespace for the call and leaves it after).
func (s *Site) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := s.inside(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return conn, err
}

// Listen listens on addr inside the site.
func (s *Site) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := s.inside(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

func (s *Site) inside(f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + s.ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return errorf("enter %s: %v", s.ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so it dies with this goroutine
		// instead of serving others in the wrong namespace.
		return errorf("leave %s: %v", s.ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
