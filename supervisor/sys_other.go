//go:build !linux

package supervisor

import (
	"errors"
	"syscall"
)

// sysProcAttr puts each child in its own process group, signalled as a
// group. Only Linux has a parent-death signal.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func setSubreaper() error { return errors.New("a child subreaper needs Linux") }

// groupRSS is not measured outside Linux.
func groupRSS(map[int]bool) map[int]int64 { return map[int]int64{} }

// groupAlive reports whether any process is left in group pgid.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}
