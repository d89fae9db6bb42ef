package sqlstore_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ote-stack/ote/hub/store/sqlstore"
)

// TestSQLiteFilesArePrivate: the database file and its -wal and -shm files
// are 0600 whatever the umask (SQLite copies the database file's mode), and
// an existing database readable by others is tightened.
func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "hub.db")
	check := func(what string) {
		t.Helper()
		for _, p := range []string{dir, path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want := fs.FileMode(0o600)
			if fi.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: %s has mode %v, want %v", what, filepath.Base(p), fi.Mode().Perm(), want)
			}
		}
	}
	s, err := sqlstore.Open(ctx(t), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	check("fresh database")
	s.Close()

	// A database made before the hub kept its files private.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	s, err = sqlstore.Open(ctx(t), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SchemaVersion(ctx(t)); err != nil {
		t.Fatal(err)
	}
	check("existing database")
}
