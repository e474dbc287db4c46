// Package chromium gives the browser tests a headless Chromium, or skips
// them saying why there is none. `make test` installs Chromium from
// Debian's packages when it runs as root and finds none.
package chromium

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Context returns a chromedp context for a headless Chromium that lives
// as long as the test; VEIL_CHROMIUM names the binary when it is not on
// the PATH.
func Context(t testing.TB) context.Context {
	t.Helper()
	path := os.Getenv("VEIL_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		t.Skip("no Chromium on this machine (make test installs it from Debian's packages when run as root; or set VEIL_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	return ctx
}

// WaitText polls the page until the text of the element sel satisfies ok,
// and fails the test, saying what it waited for, when within passes.
func WaitText(t testing.TB, ctx context.Context, sel string, within time.Duration, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var got string
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(qctx, chromedp.Text(sel))
		cancel()
		if err == nil {
			if got = s; ok(got) {
				return got
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s; %s reads %q", what, sel, got)
	return ""
}
