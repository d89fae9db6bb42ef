package fault

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// SmallDisk is a tmpfs of a few MiB mounted for one test.
type SmallDisk struct {
	// Dir is the mount point.
	Dir string
	// ballast is the file Fill writes.
	ballast string
}

// NewSmallDisk mounts a tmpfs of sizeMiB MiB and unmounts it when the test
// ends.
func NewSmallDisk(t TB, sizeMiB int) *SmallDisk {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("fault: %v", err)
	}
	run(t, "mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMiB)+"m,mode=0755", "tmpfs", dir)
	t.Cleanup(func() { runQuiet(t, "umount", "-l", dir) })
	return &SmallDisk{Dir: dir, ballast: filepath.Join(dir, ".ballast")}
}

// Fill writes a ballast file until the disk is full (ENOSPC), leaving not
// one block free.
func (d *SmallDisk) Fill(t TB) {
	t.Helper()
	f, err := os.OpenFile(d.ballast, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fault: fill %s: %v", d.Dir, err)
			}
			chunk = chunk[:len(chunk)/2] // fill the last blocks too
		}
	}
}

// Free removes the ballast.
func (d *SmallDisk) Free(t TB) {
	t.Helper()
	if err := os.Remove(d.ballast); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fault: %v", err)
	}
}

// Available is how many bytes are free.
func (d *SmallDisk) Available(t TB) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Dir, &st); err != nil {
		t.Fatalf("fault: %v", err)
	}
	return int64(st.Bavail) * st.Bsize
}
