package proc

import "syscall"

// sysProcAttr puts a node in a process group of its own and asks the
// kernel to kill it when the process that started it dies.
//
// The parent-death signal is tied to the OS thread that forked the child;
// the Go runtime does not end threads of goroutines that are not locked to
// one, so in practice it fires when the process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
