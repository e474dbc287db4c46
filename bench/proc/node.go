package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"veil/stego"
)

// Node is how a harness starts one `veil node`: the flags they all pass.
type Node struct {
	Name    string
	KeyFile string
	Gossip  string // host:port
	API     string // host:port
	DataDir string
	Profile string
	Mode    string // bully or raft
	// Raft and BootstrapExpect are passed in Raft mode only. A node that
	// restarts has Raft state on disk and does not bootstrap again.
	Raft             string
	BootstrapExpect  int
	Join             []string // gossip addresses
	SimulateFailures string   // --simulate-failures, when set
	Extra            []string // more flags, last
}

// Args is the node's command line after the binary.
func (n Node) Args() []string {
	args := []string{"node", "--name", n.Name, "--key-file", n.KeyFile,
		"--gossip", n.Gossip, "--api", n.API, "--data-dir", n.DataDir,
		"--profile", n.Profile, "--mode", n.Mode}
	if n.Mode == "raft" {
		args = append(args, "--raft", n.Raft, "--bootstrap-expect", strconv.Itoa(n.BootstrapExpect))
	}
	if len(n.Join) > 0 {
		args = append(args, "--join", strings.Join(n.Join, ","))
	}
	if n.SimulateFailures != "" {
		args = append(args, "--simulate-failures", n.SimulateFailures)
	}
	return append(args, n.Extra...)
}

// WriteKey writes a new master key to master.key in dir, readable by its
// owner only, and returns the file's path.
func WriteKey(dir string) (string, error) {
	key, err := stego.NewKey(nil)
	if err != nil {
		return "", fmt.Errorf("master key: %w", err)
	}
	text, err := key.MarshalText()
	if err != nil {
		return "", fmt.Errorf("master key: %w", err)
	}
	path := filepath.Join(dir, "master.key")
	if err := os.WriteFile(path, append(text, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("master key: %w", err)
	}
	return path, nil
}
