package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// buildVeil builds the veil command into a new temporary directory named
// after prefix, for tests that start nodes: a test binary cannot be a node.
// cleanup removes the directory.
func buildVeil(prefix string) (bin string, cleanup func(), err error) {
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

// RunWithVeil is the body of a TestMain for tests that start nodes: it
// builds the veil command into *bin, runs the tests (run is m.Run), removes
// the build and returns the exit code for os.Exit; 1, saying why, when the
// build fails.
func RunWithVeil(prefix string, bin *string, run func() int) int {
	b, cleanup, err := buildVeil(prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests that start nodes:", err)
		return 1
	}
	defer cleanup()
	*bin = b
	return run()
}
