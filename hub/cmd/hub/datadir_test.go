package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateDataDir(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fresh := filepath.Join(t.TempDir(), "a", "data")
	if err := privateDataDir(fresh, log); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Fatalf("fresh data dir mode %v", fi.Mode().Perm())
	}
	if logs.Len() != 0 {
		t.Fatalf("a fresh data dir is reported: %s", logs.String())
	}

	old := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(old, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(old, 0o755)
	if err := privateDataDir(old, log); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(old); fi.Mode().Perm() != 0o700 {
		t.Fatalf("existing data dir left at mode %v", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), "restricted") || !strings.Contains(logs.String(), "was=-rwxr-xr-x") {
		t.Fatalf("tightening is not logged: %s", logs.String())
	}

	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if err := privateDataDir(file, log); err == nil {
		t.Fatal("a file accepted as data directory")
	}
}
