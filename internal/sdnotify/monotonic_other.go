//go:build !linux

package sdnotify

import "time"

// Monotonic returns 0 where there is no systemd to read it.
func Monotonic() time.Duration { return 0 }
