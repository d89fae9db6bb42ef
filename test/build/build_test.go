// Package build checks the build files against each other: the
// Dockerfiles build the binaries as the Makefile does, from sources that
// exist, on the Go of go.mod; and the kind script parses.
package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goBuild finds the go build command that writes bin (hub, agent) in text
// and returns its arguments after "build", with the output path dropped
// and variables put in a common form.
func goBuild(t *testing.T, text, bin string) []string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		i := strings.Index(line, " build ")
		if i < 0 || !(strings.Contains(line, "go build") || strings.Contains(line, "$(GO) build")) || !regexp.MustCompile(`-o \S*/`+bin+`\b`).MatchString(line) {
			continue
		}
		args := strings.Fields(line[i+len(" build "):])
		var out []string
		for j := 0; j < len(args); j++ {
			switch {
			case args[j] == "-o":
				j++
			default:
				out = append(out, args[j])
			}
		}
		s := strings.Join(out, " ")
		s = strings.NewReplacer("'$(LDFLAGS)'", "LDFLAGS", `-ldflags="-s -w -X main.version=${VERSION}"`, "-ldflags LDFLAGS", "-ldflags LDFLAGS", "-ldflags LDFLAGS").Replace(s)
		return strings.Fields(s)
	}
	t.Fatalf("no go build of %s", bin)
	return nil
}

func TestDockerfilesBuildAsTheMakefile(t *testing.T) {
	mk := read(t, "Makefile")
	if !strings.Contains(mk, "LDFLAGS := -s -w -X main.version=$(VERSION)") {
		t.Fatal("the Makefile's LDFLAGS are not the Dockerfiles' (-s -w -X main.version=...)")
	}
	goMod := read(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)[1]
	for _, bin := range []string{"hub", "agent"} {
		df := read(t, "Dockerfile."+bin)
		if got, want := goBuild(t, df, bin), goBuild(t, mk, bin); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Dockerfile.%s builds with %v, the Makefile with %v", bin, got, want)
		}
		if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(mk, "CGO_ENABLED ?= 0") {
			t.Errorf("Dockerfile.%s or the Makefile builds with cgo", bin)
		}
		if !strings.Contains(df, "FROM golang:"+goVersion+" ") {
			t.Errorf("Dockerfile.%s does not build on go %s (go.mod)", bin, goVersion)
		}
		if !strings.Contains(df, "ARG VERSION") {
			t.Errorf("Dockerfile.%s takes no VERSION", bin)
		}
		for _, line := range strings.Split(df, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "COPY" || strings.HasPrefix(f[1], "--from=") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				matches, _ := filepath.Glob(filepath.Join(root, src))
				if len(matches) == 0 {
					t.Errorf("Dockerfile.%s copies %s, which does not exist", bin, src)
				}
			}
		}
		if !strings.Contains(mk, "docker build -f Dockerfile."+bin) {
			t.Errorf("make images does not build Dockerfile.%s", bin)
		}
	}
}

func TestKindScript(t *testing.T) {
	if out, err := exec.Command("bash", "-n", filepath.Join(root, "test/kind/e2e.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n test/kind/e2e.sh: %v\n%s", err, out)
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck is not installed: bash -n only")
		return
	}
	if out, err := exec.Command(sc, filepath.Join(root, "test/kind/e2e.sh")).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck test/kind/e2e.sh: %v\n%s", err, out)
	}
}
