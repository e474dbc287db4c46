package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildVeil builds the veil command into a new temporary directory named
// after prefix, for tests that start nodes: a test binary cannot be a node.
// cleanup removes the directory.
func BuildVeil(prefix string) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "veil")
	if out, err := exec.Command("go", "build", "-o", bin, "veil/cmd/veil").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building the veil binary: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
