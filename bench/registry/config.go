package registry

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config is one registry bench: for each size in Images and each mode, a
// cluster filled and measured.
type Config struct {
	// Bin is the veil binary the nodes run (required).
	Bin string
	// Modes are the coordinator selections, run in turn. Default bully.
	Modes []string
	// Images are the sizes of the registry, N images each (required).
	// Each has N/10 users (at least MinUsers) and Viewers viewers an
	// image, Views views each.
	Images  []int
	Viewers int // default 3
	Views   int // default 3
	// Nodes is the cluster's size. Default 3.
	Nodes int
	// Profile is the nodes' timing profile. Default fast.
	Profile string
	// Seed draws the synthetic images' ids and the users measured.
	Seed uint64
	// Logins is how many users, drawn at random, the reads and writes are
	// made as (a login each: an argon2id hash on the coordinator). Default
	// 50.
	Logins int
	// Reads is how many GET /v1/directory, and as many GET /v1/images,
	// are timed. Default 2000.
	Reads int
	// IdleWrites is the fewest writes timed with no snapshot under way.
	// Default 500.
	IdleWrites int
	// SnapshotWait bounds the writes sent while waiting for the
	// coordinator to take a snapshot: Bully mode takes one once
	// SnapshotThreshold entries pass the last, Raft mode at its next
	// check (every 2 to 4 minutes by hashicorp/raft's default). Default 5
	// minutes.
	SnapshotWait time.Duration
	// Dir, when set, holds each cluster's directory, kept afterwards:
	// Dir/MODE-N.
	Dir string
	// Progress is told what the bench does, a line at a time.
	Progress io.Writer
	// Logf is told what the harness does (a test passes t.Logf).
	Logf func(format string, args ...any)
	// Command is the command line, for the report.
	Command string
}

// MinUsers is the fewest users a registry is filled with: an image's
// viewers sit at offsets up to 31 after its owner.
const MinUsers = 32

// UsersFor is how many users a registry of n images has: a tenth, as a
// photo-sharing service's users own about ten images and see thirty.
func UsersFor(n int) int { return max(n/10, MinUsers) }

func (c *Config) setDefaults() {
	if len(c.Modes) == 0 {
		c.Modes = []string{"bully"}
	}
	if c.Viewers == 0 {
		c.Viewers = 3
	}
	if c.Views == 0 {
		c.Views = 3
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Profile == "" {
		c.Profile = "fast"
	}
	if c.Logins <= 0 {
		c.Logins = 50
	}
	if c.Reads <= 0 {
		c.Reads = 2000
	}
	if c.IdleWrites <= 0 {
		c.IdleWrites = 500
	}
	if c.SnapshotWait <= 0 {
		c.SnapshotWait = 5 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// MaxImages bounds a size given on the command line.
const MaxImages = 100_000_000

// ParseCounts reads registry sizes, N[,N...]: 10000, 10_000, 10k or 1M.
func ParseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "_", "")
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult, f = 1_000, f[:len(f)-1]
		case strings.HasSuffix(f, "M"), strings.HasSuffix(f, "m"):
			mult, f = 1_000_000, f[:len(f)-1]
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > MaxImages/mult {
			return nil, fmt.Errorf("registry sizes %q: want N[,N...] images, each 1 to %d (10000, 10k, 1M)", s, MaxImages)
		}
		out = append(out, n*mult)
	}
	return out, nil
}
