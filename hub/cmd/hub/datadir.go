package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/ote-stack/ote/hub/config"
)

// usesDataDir reports whether the hub keeps anything in its data directory:
// the default SQLite database, a generated key, the embedded registry.
func usesDataDir(o *config.Options) bool {
	return o.DB == "" || o.JWTKey == "" || o.SecretKey == "" || o.EmbeddedRegistry()
}

// privateDataDir creates the data directory with mode 0700, or takes the
// group and other bits off an existing one, and says so: it holds the
// database, the keys and the registry's blobs.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	err = os.Chmod(dir, perm&0o700)
	switch {
	case errors.Is(err, fs.ErrPermission):
		// A volume's root that belongs to root and is shared with the hub
		// through its group (Kubernetes' fsGroup): not the hub's to change.
		// What the hub makes inside is still 0700/0600.
		log.Warn("data directory is open to other users and not the hub's to restrict", "dir", dir, "mode", perm.String())
		return nil
	case err != nil:
		return fmt.Errorf("restrict data directory: %w", err)
	}
	log.Warn("data directory was open to other users; restricted it to the hub's user", "dir", dir, "was", perm.String(), "now", (perm & 0o700).String())
	return nil
}
