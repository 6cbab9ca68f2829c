package runner

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// limitAddressSpace sets RLIMIT_AS to the process's current virtual size
// plus headroom and returns the limit. A Go process reserves about 1.2 GiB
// of address space at start that it never touches, so the limit has to be
// relative to that; beyond it, an allocation fails at once ("fatal error:
// out of memory") instead of being filled page by page.
func limitAddressSpace(headroom int64) (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	kb, ok := statusField(status, "VmSize:")
	if !ok {
		return 0, fmt.Errorf("no VmSize in /proc/self/status")
	}
	limit := kb<<10 + headroom
	if kb < 0 || headroom < 0 || limit <= 0 {
		return 0, fmt.Errorf("address space limit out of range (VmSize %d kB, headroom %d)", kb, headroom)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: uint64(limit), Max: uint64(limit)}); err != nil {
		return 0, fmt.Errorf("setrlimit RLIMIT_AS: %w", err)
	}
	return limit, nil
}

// statusField reads a "Name:   123 kB" line of /proc/<pid>/status.
func statusField(status []byte, name string) (int64, bool) {
	i := bytes.Index(status, []byte("\n"+name))
	if i < 0 {
		return 0, false
	}
	line := status[i+1+len(name):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	return n, err == nil
}

// processRSS is a process's resident memory in bytes, from /proc/<pid>/statm.
func processRSS(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// sandboxProcAttr puts a sandbox child in its own process group, so a
// Ctrl-C in the terminal (SIGINT to the foreground group) reaches only the
// worker, which then stops its children in order.
func sandboxProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
