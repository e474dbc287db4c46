package p2p

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "veil-p2p-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2p tests:", err)
		os.Exit(1)
	}
	veilBin = filepath.Join(dir, "veil")
	if out, err := exec.Command("go", "build", "-o", veilBin, "veil/cmd/veil").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "p2p tests: building the veil binary: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logsOnFailure shows every log in dir when the test fails.
func logsOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 32<<10 {
				b = b[len(b)-32<<10:]
			}
			t.Logf("---- %s\n%s", l, b)
		}
	})
}

// The narrated demo is also a test: each of its steps checks what it says.
func TestTheDemoDoesWhatItSays(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	err := Demo(ctx, DemoConfig{Bin: veilBin, Dir: dir, Out: &out, Logf: t.Logf})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
}
