package main

import (
	"fmt"
	"os"
	"syscall"
)

// fdatasync is what bbolt calls on Linux to make a commit durable.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

const tmpfsMagic = 0x01021994

// notTmpfs refuses a tmpfs, where a sync costs nothing and the figures
// would say nothing of the disk.
func notTmpfs(dir string) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return err
	}
	if fs.Type == tmpfsMagic {
		return fmt.Errorf("%s is a tmpfs, where a sync costs nothing: use a directory on the spool's disk", dir)
	}
	return nil
}
