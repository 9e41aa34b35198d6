//go:build unix

package app

import (
	"fmt"
	"syscall"
	"time"
)

// processCPU is this process's CPU time so far, user and system: on
// loopback most of a frame's cost is system time (the write syscall does
// the receiver's TCP work too).
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("bench ws: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
