// Package crashpoint kills the process at named points of its code, so
// that end-to-end tests can prove what survives a crash at the worst
// moment (between a database commit and what follows it, say), which no
// signal sent from outside can hit reliably.
//
// Points are armed only by the environment variable OTE_CRASH_AT, a
// comma-separated list of point names, read once at start. Unarmed (every
// deployment), Hit costs one lookup in an empty map.
package crashpoint

import (
	"os"
	"strings"
	"syscall"
)

// Env is the variable that arms points.
const Env = "OTE_CRASH_AT"

var armed = parse(os.Getenv(Env))

func parse(v string) map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			m[name] = true
		}
	}
	return m
}

// Hit kills the process with SIGKILL, as a crash would (no deferred call,
// no flush, no goodbye to peers), when point is armed.
func Hit(point string) {
	if armed[point] {
		os.Stderr.WriteString("crashpoint: " + point + "\n")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; go no further
	}
}
