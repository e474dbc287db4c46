package peer

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"veil/internal/chromium"
)

// A photograph of 2 MB in the app, at the stealth level chosen in the put
// form: alice puts it as compact; bob fetches it and views it in his
// browser, which shows the original, byte for byte, and draws it at its
// size. (The other levels go through the same pages; their cost is the
// cloud's, which TestAPhotographIsViewedAtEveryLevelOnlineAndOffline in
// bench/p2p runs between real processes.)
func TestTheAppPutsAndShowsAPhotographAtTheChosenLevel(t *testing.T) {
	ctx := chromium.Context(t)
	c := newCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	// Noise at quality 95: as incompressible as a photograph's bytes.
	const side = 1280
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	rand.NewChaCha8([32]byte{7}).Read(img.Pix)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	photo := b.Bytes()
	file := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(file, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	appSignIn(t, ctx, alice, "alice")
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles("#secret", []string{file}),
		chromedp.SendKeys("#viewers", "bob=1"),
		chromedp.SetValue("#stealth", "compact"),
		chromedp.Click("#put"),
		chromedp.WaitVisible("#picture"),
	); err != nil {
		t.Fatalf("alice puts a %d-byte photograph: %v", len(photo), err)
	}
	held := alice.store.Holds()
	if len(held) != 1 {
		t.Fatalf("alice's peer holds %v", held)
	}
	e, _ := alice.store.Get(held[0])
	if r := float64(e.Size) / float64(len(photo)); r > 2 {
		t.Fatalf("the veiled PNG is %.1f times the photograph: not the compact level", r)
	}

	appSignIn(t, ctx, bob, "bob")
	chromium.WaitText(t, ctx, "#shared", 10*time.Second, "the image shared with bob", func(s string) bool {
		return strings.Contains(s, "alice") && strings.Contains(s, "Fetch")
	})
	if err := chromedp.Do(ctx, chromedp.Click("#shared .fetch"), chromedp.WaitVisible("#flash")); err != nil {
		t.Fatalf("bob fetches: %v", err)
	}
	chromium.WaitText(t, ctx, "#flash", 10*time.Second, "the fetch done", func(s string) bool { return strings.Contains(s, "Fetched") })
	if err := chromedp.Do(ctx, chromedp.Click("#shared .view"), chromedp.WaitVisible("#picture")); err != nil {
		t.Fatalf("bob views: %v", err)
	}
	width, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelector("#picture").complete && document.querySelector("#picture").naturalWidth`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("the picture is not drawn: %v", err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue("#picture", "src"))
	if err != nil {
		t.Fatal(err)
	}
	// The original is served by a link of the app's, to the browser's
	// session only: the browser draws it (above), it is the photograph
	// byte for byte, and without the session's cookie there is nothing.
	src := attr.Value
	if !strings.HasPrefix(src, "/app/shown/") {
		t.Fatalf("the page shows %.60q, not a link of the app's", src)
	}
	bob.shown.mu.Lock()
	shown, kept := bob.shown.m[strings.TrimPrefix(src, "/app/shown/")]
	bob.shown.mu.Unlock()
	if !kept || !bytes.Equal(shown.body, photo) || shown.contentType != "image/jpeg" || shown.session == "" {
		t.Fatalf("the link %s is not the photograph, for the browser's session (kept %v, %d bytes of %s)", src, kept, len(shown.body), shown.contentType)
	}
	req, _ := http.NewRequest("GET", "http://"+bob.LocalAddr()+src, nil)
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirect followed
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Content-Type") == "image/jpeg" {
		t.Fatalf("the link without the session's cookie: %d %s, want the sign-in's 303", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if width != side {
		t.Fatalf("the browser draws the photograph %d pixels wide, want %d", width, side)
	}
}
