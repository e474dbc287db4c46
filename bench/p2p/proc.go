package p2p

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"veil/bench/local"
	"veil/bench/proc"
	"veil/peer"
)

// Peer is one user's peer process. Its data directory and control port
// stay the same across restarts.
type Peer struct {
	User     string
	Password string
	Dir      string // its --data-dir
	Local    string // its control API, host:port
	Log      string
	bin      string
	api      []string
	args     []string
	proc     *proc.Process
	client   *peer.LocalClient
}

// StartPeer starts user's peer and waits until the cloud lists it online.
func StartPeer(ctx context.Context, bin, dir, user, password string, api []string, args ...string) (*Peer, error) {
	port, err := local.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	p := &Peer{
		User: user, Password: password, Dir: filepath.Join(dir, user), Log: filepath.Join(dir, user+".log"),
		Local: "127.0.0.1:" + strconv.Itoa(port), bin: bin, api: api, args: args,
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, user+".password"), []byte(password), 0o600); err != nil {
		return nil, err
	}
	if p.client, err = peer.NewLocalClient(p.Local, user, password); err != nil {
		return nil, err
	}
	return p, p.Start(ctx)
}

// Start starts the process (again) and waits until it is online.
func (p *Peer) Start(ctx context.Context) error {
	if err := p.Launch(); err != nil {
		return err
	}
	return p.WaitOnline(ctx)
}

// Launch starts the process (again) and waits until its control API
// answers, online or not (the cloud may be down).
func (p *Peer) Launch() error {
	if p.proc != nil && !p.proc.Exited() {
		return fmt.Errorf("p2p: %s's peer is running", p.User)
	}
	args := append([]string{"peer", "--user", p.User, "--password-file", filepath.Join(filepath.Dir(p.Dir), p.User+".password"),
		"--listen", "127.0.0.1:0", "--local", p.Local, "--data-dir", p.Dir, "--api", strings.Join(p.api, ",")}, p.args...)
	cmd := exec.Command(p.bin, args...)
	pr, err := proc.Start(cmd, p.Log)
	if err != nil {
		return err
	}
	p.proc = pr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if _, err := p.client.Status(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("p2p: %s's peer does not answer on %s (log %s)", p.User, p.Local, p.Log)
		case <-p.proc.Done():
			return fmt.Errorf("p2p: %s's peer exited: %v (log %s)", p.User, p.proc.Err(), p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitOnline waits until the peer says the cloud has it online.
func (p *Peer) WaitOnline(ctx context.Context) error {
	for {
		st, err := p.client.Status(ctx)
		if err == nil && st.Online {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("p2p: %s's peer not online: %w (last: %v; log %s)", p.User, ctx.Err(), err, p.Log)
		case <-p.proc.Done():
			return fmt.Errorf("p2p: %s's peer exited: %v (log %s)", p.User, p.proc.Err(), p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the peer cleanly: it leaves the directory at once.
func (p *Peer) Stop() error { return p.end(syscall.SIGTERM) }

// Kill kills the peer: the cloud takes it for offline when its TTL lapses.
func (p *Peer) Kill() error { return p.end(syscall.SIGKILL) }

func (p *Peer) end(sig syscall.Signal) error {
	if p.proc == nil || p.proc.Exited() {
		return nil
	}
	if err := p.proc.Signal(sig); err != nil {
		return err
	}
	if !p.proc.Wait(10 * time.Second) {
		p.proc.Signal(syscall.SIGKILL)
		p.proc.Wait(5 * time.Second)
		return errors.New("p2p: " + p.User + "'s peer did not stop on " + sig.String())
	}
	return nil
}

// Running reports whether the process is up.
func (p *Peer) Running() bool { return p.proc != nil && !p.proc.Exited() }

// Client is the peer's control API, as its user.
func (p *Peer) Client() *peer.LocalClient { return p.client }
