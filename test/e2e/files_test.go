package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// privateTree fails for every file or directory under dir (dir included)
// that its group or others may read, write or enter.
func privateTree(t *testing.T, dir string) (n int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: open to group or others", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDataDirIsPrivate: everything the hub writes under its data directory
// (the SQLite database and its WAL, generated keys, the registry's storage,
// lock and JWKS, pushed blobs) is the hub user's alone, and a data directory
// left open by an earlier hub is closed on start.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dir, "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap}
	h := startHub(t, "", args...)
	root := h.login("admin", "Root-pass1")
	h.must(200, "POST", "/v1/repository/user", root, map[string]string{"user": "root-reg", "password": "Root-reg1"})
	h.must(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "files", "public": false})
	if err := push(t, h.registry, "files/app:1", randomImage(t), basic("root-reg", "Root-reg1")); err != nil {
		t.Fatal(err)
	}
	// While the hub runs: the WAL and shared-memory files exist.
	for _, f := range []string{"hub.db", "hub.db-wal", "hub.db-shm", "jwt.key", "secret.key", "registry/storage.lock", "registry/jwks.json", "registry/data/docker"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("expected %s in the data dir: %v", f, err)
		}
	}
	if n := privateTree(t, dir); n < 20 {
		t.Fatalf("only %d entries under the data dir: the walk saw too little", n)
	}
	h.stop()
	privateTree(t, dir)

	// A data directory made open by hand (or by an older hub) is closed again.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h = startHub(t, "", args...)
	h.waitLog(`data directory was open to other users.* was=-rwxr-xr-x now=-rwx------`)
	privateTree(t, dir)
}
