//go:build unix && !linux

package bench

import "syscall"

// sysProcAttr puts a node in a process group of its own, so that a signal
// reaches it and anything it starts. Without a parent-death signal on this
// system, a bench killed with SIGKILL can leave nodes behind; Close and
// test clean-ups still stop them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
