package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// lockStorage takes the embedded registry's storage lock: the serving hub
// holds it shared, garbage collection exclusively, so that the two never
// run on one storage at once.
func lockStorage(dir string, exclusive bool) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "storage.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 { // made by a hub that did not restrict it
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, err
		}
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if exclusive {
				return nil, errors.New("the registry storage is in use: stop the hub that serves it first")
			}
			return nil, errors.New("the registry storage is being garbage-collected; wait for it to finish")
		}
		return nil, err
	}
	return f, nil
}

// GCResult is what a garbage collection freed.
type GCResult struct {
	BytesBefore, BytesAfter int64
}

// CollectGarbage deletes from the embedded registry's storage under dir the
// blobs that no manifest references any more (what image and tag deletes
// leave behind). distribution's mark and sweep is not safe against pushes,
// so the hub serving dir must be stopped: the storage lock makes sure.
// With removeUntagged, manifests without a tag go too (and with them the
// untagged children of multi-platform indexes: use with care).
func CollectGarbage(ctx context.Context, dir string, removeUntagged, dryRun bool) (GCResult, error) {
	lock, err := lockStorage(dir, true)
	if err != nil {
		return GCResult{}, err
	}
	defer lock.Close()
	logrus.SetLevel(logrus.WarnLevel) // not a line per deleted blob
	root := filepath.Join(dir, "data")
	var res GCResult
	res.BytesBefore = diskUsage(root)
	driver := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 16})
	reg, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return res, fmt.Errorf("open registry storage: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, driver, reg, storage.GCOpts{DryRun: dryRun, RemoveUntagged: removeUntagged, Quiet: true}); err != nil {
		return res, fmt.Errorf("garbage collection: %w", err)
	}
	res.BytesAfter = diskUsage(root)
	return res, nil
}

func diskUsage(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
