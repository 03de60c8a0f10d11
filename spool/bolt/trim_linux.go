//go:build linux

package bolt

import (
	"fmt"
	"syscall"
)

// TrimMemory lets go of the spool pages this process has read through
// bbolt's memory map. They are clean page cache (bbolt maps the file
// read-only and writes with pwrite), so nothing is lost: the kernel keeps
// them cached and the next read maps them back. Without this, every page
// ever read stays in relayd's resident set, which with a million messages
// spooled grows past 150 MB although the heap is a few MB.
//
// A read transaction is held meanwhile: bbolt remaps the file only under
// a lock that read transactions share, so the range advised is the live
// mapping and nothing else.
func (d *DB) TrimMemory() error {
	tx, err := d.db.Begin(false)
	if err != nil {
		return fmt.Errorf("trim memory: %w", err)
	}
	defer tx.Rollback()
	data, size := d.db.Info().Data, tx.Size()
	if data == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, data, uintptr(size), syscall.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("trim memory: madvise: %w", errno)
	}
	return nil
}
