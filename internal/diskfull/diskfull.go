// Package diskfull gives tests a small real file system that they can fill
// up and free again, to see what the relay does when the disk is full.
//
// It mounts a tmpfs, or an ext4 image on a loop device, with a size limit.
// Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted, the
// test is skipped outside CI and fails in CI (package testenv), where .ci/run
// runs as root and installs e2fsprogs.
package diskfull

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/holdrelay/relay/internal/testenv"
)

// Kind is the file system to mount.
type Kind string

const (
	Tmpfs Kind = "tmpfs" // page cache only: writes fail with ENOSPC at once
	Ext4  Kind = "ext4"  // a real disk file system on a loop device, with fsync
)

// Kinds are the file systems the tests try.
var Kinds = []Kind{Tmpfs, Ext4}

// Mount mounts a file system of kind, limited to size bytes, on a fresh
// directory and returns it. It is unmounted when the test ends.
func Mount(t testing.TB, kind Kind, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "diskfull: mounting a small file system needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case Tmpfs:
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
			testenv.Missing(t, "diskfull: cannot mount a tmpfs here: %v", err)
		}
	case Ext4:
		img := filepath.Join(dir, "fs.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		mkfs, err := exec.LookPath("mkfs.ext4")
		if err != nil {
			testenv.Missing(t, "diskfull: mkfs.ext4 not installed (apt-get install e2fsprogs)")
		}
		// No journal-sized reserve or lazy init: the whole size is usable
		// at once, and root's reserved blocks are none.
		if out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
			testenv.Missing(t, "diskfull: mkfs.ext4: %v: %s", err, out)
		}
		if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
			testenv.Missing(t, "diskfull: cannot loop-mount an ext4 image here: %v: %s", err, out)
		}
	default:
		t.Fatalf("diskfull: unknown kind %q", kind)
	}
	t.Cleanup(func() {
		// Lazily: a test that failed may still hold a file open.
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("diskfull: unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// Fill writes a ballast file in dir until the file system refuses more,
// and returns a function that removes it, giving the space back.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for chunk := len(buf); chunk > 0; {
		if _, err := f.Write(buf[:chunk]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("diskfull: filling %s: %v", dir, err)
			}
			chunk /= 2 // fill the last crumbs too
			continue
		}
		if chunk < len(buf) {
			if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("diskfull: filling %s: %v", dir, err)
			}
		}
	}
	f.Sync()
	f.Close()
	var once bool
	return func() {
		if once {
			return
		}
		once = true
		if err := os.Remove(path); err != nil {
			t.Fatalf("diskfull: freeing %s: %v", dir, err)
		}
	}
}
