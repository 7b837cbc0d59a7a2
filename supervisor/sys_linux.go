//go:build linux

package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// sysProcAttr puts each child in its own process group (signalled as a
// group) and asks the kernel to send it SIGTERM if the supervisor dies.
//
// SIGTERM rather than SIGKILL: a dying supervisor can no longer run the
// two-phase stop, and SIGTERM lets a nested `boiler start` run its own for
// its whole tree, where SIGKILL would orphan its children's groups.
// Pdeathsig fires when the forking thread exits; Go only ends threads that
// a goroutine left locked, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// setSubreaper makes this process a child subreaper: orphaned descendants
// are reparented to it instead of to PID 1.
func setSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("becoming a child subreaper: %w", errno)
	}
	return nil
}

// groupRSS returns the resident memory in bytes of each process group in
// pgids: the sum of VmRSS (from /proc/PID/status) over its members.
func groupRSS(pgids map[int]bool) map[int]int64 {
	out := make(map[int]int64, len(pgids))
	if len(pgids) == 0 {
		return out
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range dir {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil || !pgids[pgid] {
			continue
		}
		out[pgid] += vmRSS(pid)
	}
	return out
}

// vmRSS reads VmRSS from /proc/PID/status, in bytes (0 when unknown, as
// for a zombie).
func vmRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	i := bytes.Index(b, []byte("\nVmRSS:"))
	if i < 0 {
		return 0
	}
	rest := b[i+len("\nVmRSS:"):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	f := bytes.Fields(rest) // "1234", "kB"
	if len(f) == 0 {
		return 0
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}

// groupAlive reports whether process group pgid has a member that is not a
// zombie. A zombie is dead: it only waits for its parent, often PID 1, to
// reap it, which a container's PID 1 may do late or never, and the stop
// must not wait for that.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, d := range dir {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold anything, so
		// parse after its last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || f[0][0] == 'Z' || f[0][0] == 'X' {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}
