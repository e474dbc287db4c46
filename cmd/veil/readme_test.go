package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's tour is run as written, so that it cannot rot: every line of
// its console blocks that starts with "$ " is a command, in order, in one
// shell. Only the loopback ports change, to free ones, so that the test
// runs beside anything else on the machine.
func TestTheReadmeTourRuns(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the tour is a bash session and this machine has no bash")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := tourCommands(string(readme))
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in the README's console blocks; the tour is missing or its format changed", len(cmds))
	}
	script := "set -e -o pipefail\n" + withFreePorts(t, strings.Join(cmds, "\n")) + "\n"

	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "veil"), ".").CombinedOutput(); err != nil {
		t.Fatalf("building veil: %v\n%s", err, out)
	}
	dir := t.TempDir()
	writeNoisePNG(t, filepath.Join(dir, "cat.png"))

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-x", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "VEIL_API=", "VEIL_PASSWORD=")
	// The tour starts nodes and peers in the background; they share the
	// shell's process group, which is killed whatever happens.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A tour that stops early leaves its background nodes and peers
	// holding the output pipe: stop reading it soon after the shell ends,
	// so that the test fails with the session instead of waiting.
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	if err == nil {
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = cmd.Wait()
	}
	if err != nil {
		t.Fatalf("the README's tour failed: %v\n--- the session:\n%s", err, out.String())
	}
	t.Logf("the session:\n%s", out.String())
	if !strings.Contains(out.String(), "exit 3") {
		t.Fatalf("the tour's last cloud view should be refused with exit 3 (no views left):\n%s", out.String())
	}
}

// tourCommands returns the "$ " lines of the README's console blocks, with
// their continuation lines joined.
func tourCommands(readme string) []string {
	var cmds []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```console"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in && strings.HasPrefix(line, "$ "):
			cmds = append(cmds, strings.TrimPrefix(line, "$ "))
		case in && len(cmds) > 0 && strings.HasSuffix(cmds[len(cmds)-1], "\\"):
			cmds[len(cmds)-1] += "\n" + line
		}
	}
	return cmds
}

// withFreePorts maps every 127.0.0.1:PORT of the script to a free port, the
// same port to the same one throughout.
func withFreePorts(t *testing.T, script string) string {
	re := regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	ports := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(script, -1) {
		if _, ok := ports[m[1]]; ok {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[m[1]] = fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	// Gossip uses UDP as well; a TCP port free now is almost always free for
	// UDP too on loopback.
	return re.ReplaceAllStringFunc(script, func(s string) string {
		return "127.0.0.1:" + ports[strings.TrimPrefix(s, "127.0.0.1:")]
	})
}

func writeNoisePNG(t *testing.T, path string) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Every relative link in README.md, CONTRIBUTING.md and docs/ names a file
// or directory of the repository, and an anchor a heading of that file.
func TestEveryRelativeLinkInTheDocsResolves(t *testing.T) {
	root := "../.."
	var pages []string
	for _, p := range []string{"README.md", "CONTRIBUTING.md"} {
		pages = append(pages, filepath.Join(root, p))
	}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			pages = append(pages, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(stripCode(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			resolved := page
			if file != "" {
				resolved = filepath.Join(filepath.Dir(page), file)
			}
			if _, err := os.Stat(resolved); err != nil {
				t.Errorf("%s: the link %q names nothing (%v)", rel(root, page), target, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") {
				hb, _ := os.ReadFile(resolved)
				if !hasAnchor(string(hb), anchor) {
					t.Errorf("%s: the link %q names no heading of %s", rel(root, page), target, rel(root, resolved))
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d links: the pages or the link syntax changed", checked)
	}
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

// stripCode drops fenced blocks, where "](" is code, not a link.
func stripCode(md string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// hasAnchor reports whether a heading of md has the anchor a code host
// gives it: lower case, spaces to hyphens, punctuation dropped.
func hasAnchor(md, anchor string) bool {
	for _, line := range strings.Split(stripCode(md), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var a strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
				a.WriteRune(r)
			}
		}
		if a.String() == anchor {
			return true
		}
	}
	return false
}
