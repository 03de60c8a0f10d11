//go:build !linux

package main

import "os"

// fdatasync falls back to fsync where there is no fdatasync (bbolt does
// the same).
func fdatasync(f *os.File) error { return f.Sync() }

func notTmpfs(string) error { return nil }
