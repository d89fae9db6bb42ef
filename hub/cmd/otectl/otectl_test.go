package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ote-stack/ote/test/readmecheck"
)

func TestParsePorts(t *testing.T) {
	got, err := parsePorts([]string{"http=80:8080/tcp", "9090"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0]["name"] != "http" || got[0]["servicePort"] != uint64(80) || got[0]["containerPort"] != uint64(8080) || got[0]["protocol"] != "TCP" {
		t.Errorf("first port %v", got[0])
	}
	if got[1]["containerPort"] != uint64(9090) || got[1]["servicePort"] != nil {
		t.Errorf("second port %v", got[1])
	}
	for _, bad := range []string{"eighty", "80:x", "=", "70000"} {
		if _, err := parsePorts([]string{bad}); err == nil {
			t.Errorf("--port %q accepted", bad)
		}
	}
}

func TestConfigIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config.json")
	c := &config{Hub: "http://hub:8080", User: "u", Token: "tok", ExpireTime: 1}
	if err := c.save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	back, err := loadConfig(path)
	if err != nil || *back != *c {
		t.Fatalf("read back %+v, %v", back, err)
	}
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := loadConfig(path); err == nil || err.(*cliError).code != exitUsage {
		t.Fatalf("a broken configuration: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	for status, want := range map[int]int{401: exitAuth, 403: exitRefused, 404: exitRefused, 422: exitRefused, 429: exitRefused, 503: exitUnavailable, 500: exitUnavailable} {
		if got := apiError(status, "m", "", true).(*cliError).code; got != want {
			t.Errorf("status %d: exit %d, want %d", status, got, want)
		}
	}
	if msg := apiError(503, "the database is unavailable", "2", true).Error(); !strings.Contains(msg, "retry after 2s") {
		t.Errorf("503 message %q", msg)
	}
	var out, errOut bytes.Buffer
	cfg := filepath.Join(t.TempDir(), "c.json")
	if code := run(context.Background(), []string{"--config", cfg, "whoami"}, strings.NewReader(""), &out, &errOut); code != exitAuth {
		t.Errorf("whoami without a login: exit %d: %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"--config", cfg, "nonsense"}, strings.NewReader(""), &out, &errOut); code != exitUsage {
		t.Errorf("an unknown command: exit %d", code)
	}
	if code := run(context.Background(), []string{"--config", cfg, "--hub", "ftp://x", "user", "register", "--user", "x"}, strings.NewReader("Pw-x1234\n"), &out, &errOut); code != exitUsage {
		t.Errorf("an ftp hub URL: exit %d: %s", code, errOut.String())
	}
}

// TestReadmeReference: the README's table of otectl's flags is its flag set.
func TestReadmeReference(t *testing.T) {
	rows, err := readmecheck.Table("../../../README.md", "### otectl's flags")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{}
	fs := flag.NewFlagSet("otectl", flag.ContinueOnError)
	a.rootCommand().PersistentFlags().VisitAll(func(f *pflag.Flag) { fs.String(f.Name, f.DefValue, f.Usage) })
	for _, d := range readmecheck.Compare(fs, rows) {
		t.Error(d)
	}
}

// TestAppFileAndFlags: with -f, the file's fields win over the flags'
// defaults, flags given win over the file, and what the file leaves out
// takes the defaults the hub requires (CPU, memory, autoscaling off).
func TestAppFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(file, []byte("appName: web\nversion: \"1.1\"\nimage: r/web:1.1\nreplicas: 3\nmaxCPU: 800\nport: []\n"), 0o600)
	var f appFlags
	cmd := &cobra.Command{}
	f.bind(cmd.Flags())
	if err := cmd.ParseFlags([]string{"-f", file, "--image", "r/web:1.2", "--memory", "10:20"}); err != nil {
		t.Fatal(err)
	}
	body, err := f.body(cmd)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"appName": "web", "version": "1.1", "image": "r/web:1.2", "replicas": float64(3),
		"minCPU": uint64(100), "maxCPU": float64(800), "minMemory": uint64(10), "maxMemory": uint64(20),
		"deployType": "deployment", "isHPA": false, "targetCPUUtilization": 0,
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	if _, ok := body["command"]; ok {
		t.Errorf("an empty --command was sent: %#v", body["command"])
	}
}
