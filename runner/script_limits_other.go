//go:build !linux

package runner

import (
	"errors"
	"syscall"
)

// limitAddressSpace is Linux-only; elsewhere the in-process guard and the
// pool's kill are the limits.
func limitAddressSpace(int64) (int64, error) {
	return 0, errors.New("not supported on this system")
}

// processRSS is Linux-only; elsewhere the pool cannot watch a child's memory.
func processRSS(int) (int64, bool) { return 0, false }

// sandboxProcAttr: no process-group change off Linux.
func sandboxProcAttr() *syscall.SysProcAttr { return nil }
