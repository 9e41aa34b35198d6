//go:build !unix

package app

import (
	"errors"
	"time"
)

// processCPU is unix's (getrusage); bench ws needs it.
func processCPU() (time.Duration, error) {
	return 0, errors.New("bench ws: the process's CPU time is read on unix systems only")
}
