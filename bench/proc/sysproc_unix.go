//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr puts a node in a process group of its own. Without a
// parent-death signal on this system, a harness killed with SIGKILL can
// leave nodes behind; Close and test clean-ups still stop them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
