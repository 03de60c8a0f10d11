//go:build !linux

package bolt

// TrimMemory does nothing off Linux; see trim_linux.go.
func (d *DB) TrimMemory() error { return nil }
