package crashpoint

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	m := parse(" a, b ,,c")
	if len(m) != 3 || !m["a"] || !m["b"] || !m["c"] {
		t.Fatalf("parse: %v", m)
	}
	if len(parse("")) != 0 {
		t.Fatal("an empty variable arms points")
	}
}

// An armed point kills the process with SIGKILL; an unarmed one does
// nothing (the child reaches its last line).
func TestHit(t *testing.T) {
	if os.Getenv("CRASHPOINT_CHILD") != "" {
		Hit("not-armed")
		os.Stdout.WriteString("passed the unarmed point\n")
		Hit("armed")
		os.Stdout.WriteString("passed the armed point\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHit$")
	cmd.Env = append(os.Environ(), "CRASHPOINT_CHILD=1", Env+"=armed")
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; output %q", err, out)
	}
	if !strings.Contains(string(out), "passed the unarmed point") || strings.Contains(string(out), "passed the armed point") {
		t.Fatalf("child output %q", out)
	}
}
