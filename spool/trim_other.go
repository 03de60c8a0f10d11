//go:build !linux

package spool

// TrimMemory does nothing off Linux; see trim_linux.go.
func (s *Spool) TrimMemory() error { return nil }
