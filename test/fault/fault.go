// Package fault breaks things on purpose for end-to-end tests, with real
// parts only:
//
//   - Site: a network namespace joined to the test's own by two veth pairs,
//     a WAN link (to the hub: the one tests cut, in either direction or
//     both) and a LAN link (to the site's own kube-apiserver: never cut).
//     Cuts drop frames silently, as a broken link does: no RST, no ICMP.
//   - Proxy: a TCP proxy with latency, bandwidth limits, resets and
//     black holes, from Shopify's toxiproxy used as a library.
//   - Postgres: a private PostgreSQL server of the test's own, to stop,
//     restart, pause (SIGSTOP) or kill without touching the machine's.
//   - SmallDisk: a tmpfs of a few MiB, to fill and free.
//
// Processes are paused and killed by the tests' own handles (test/e2e's
// proc, APIServer.Process in test/harness for kine and kube-apiserver).
//
// Everything here needs root and Linux (network namespaces, mount); Require
// says so loudly and, under CI or OTE_REQUIRE_FAULTS, fails instead of
// skipping.
package fault

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// TB is the part of testing.TB the package uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Logf(format string, args ...any)
}

// Require stops the test when this machine cannot break things: not Linux,
// not root, or no `ip`. Under CI (or OTE_REQUIRE_FAULTS=1) that is a
// failure, never a quiet skip.
func Require(t TB) {
	t.Helper()
	var why string
	switch {
	case runtime.GOOS != "linux":
		why = "fault scenarios need Linux"
	case os.Geteuid() != 0:
		why = "fault scenarios need root (network namespaces, tmpfs)"
	default:
		if _, err := exec.LookPath("ip"); err != nil {
			why = "fault scenarios need iproute2's ip"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("OTE_REQUIRE_FAULTS") != "" {
		t.Fatalf("%s", why)
	}
	t.Skipf("!!! %s; not run", why)
}

// run runs a command and fails the test with its output if it fails.
func run(t TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// runQuiet runs a command for cleanup, logging a failure.
func runQuiet(t TB, name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Logf("cleanup: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf("fault: "+format, args...) }
