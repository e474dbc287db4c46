// Package proc runs veil node processes for the bench's two harnesses
// (bench/local, on loopback ports, and bench/netns, in network
// namespaces): their master key, their command line, the processes
// themselves and the Set that holds a cluster's, JSON fetched from their
// API, and the polling both harnesses wait with (Poll, WaitServing).
//
// It imports no other package of the bench: everything that starts or
// watches a node builds on it.
//
// Every process is started in a process group of its own, so that a signal
// reaches it and anything it starts, and, on Linux, with a parent-death
// SIGKILL, so that a bench or a test that is killed leaves no node behind.
package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is one running node process. A goroutine started with it waits
// for it to exit, so that it is reaped as soon as it dies; Done is closed
// then. Whoever starts a process must wait for Done.
type Process struct {
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // how it exited; read after done is closed
	logOffset int64
}

// Start starts cmd with its standard output and error appended to the file
// at logPath, after a line that names the command and the time. The
// environment is this process's without VEIL_* variables: a node takes
// every flag it is not given from them, and a harness must not depend on
// what the shell happens to export.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	_, err = fmt.Fprintf(log, "==== %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	var offset int64
	if err == nil {
		offset, err = log.Seek(0, io.SeekCurrent)
	}
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("node log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = log, log // files: no copying goroutines
	cmd.Env = env()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), logOffset: offset}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// env is this process's environment without VEIL_* variables.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VEIL_") {
			out = append(out, kv)
		}
	}
	return out
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogOffset is where this process's output starts in its log.
func (p *Process) LogOffset() int64 { return p.logOffset }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited (as exec.Cmd.Wait says); valid once Done
// is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process's group. A process that has already
// exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	err := syscall.Kill(-p.Pid(), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%v to pid %d: %w", sig, p.Pid(), err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and be reaped, and
// reports whether it did.
func (p *Process) Wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}
