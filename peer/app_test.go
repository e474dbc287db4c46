package peer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"veil/internal/chromium"
)

// The user's journey in a real browser: alice signs in to her peer's page,
// puts an image for bob and gives him a second view; bob signs in to his,
// fetches it peer to peer (leasing both views), views it twice, and the
// next view shows the default image with the reason.
func TestTheUserAppPutsFetchesAndViewsInABrowser(t *testing.T) {
	ctx := chromium.Context(t)
	c := newCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	secret := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(secret, secretPNG(t, 21), 0o600); err != nil {
		t.Fatal(err)
	}
	signIn := func(p *testPeer, user string) { appSignIn(t, ctx, p, user) }

	signIn(alice, "alice")
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles("#secret", []string{secret}),
		chromedp.SendKeys("#viewers", "bob=1"),
		chromedp.Click("#put"),
		chromedp.WaitVisible("#picture"),
	); err != nil {
		t.Fatalf("alice puts: %v", err)
	}
	shot(t, ctx, "app-put.png")
	alt, err := chromedp.Run(ctx, chromedp.AttributeValue("#picture", "alt"))
	if err != nil || !strings.Contains(alt.Value, "veiled picture") {
		t.Fatalf("the put's page shows %q (%v), want the veiled picture", alt.Value, err)
	}
	if held := alice.store.Holds(); len(held) != 1 {
		t.Fatalf("alice's peer holds %v", held)
	}
	id := alice.store.Holds()[0]
	// alice gives bob a second view from her page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+alice.LocalAddr()+"/app/"),
		chromedp.WaitVisible("#mine"),
		chromedp.SendKeys("#mine input[name=viewers]", "bob=2"),
		chromedp.Click("#mine button"),
		chromedp.WaitVisible("#flash"),
	); err != nil {
		t.Fatalf("alice shares: %v", err)
	}
	chromium.WaitText(t, ctx, "#mine", 5*time.Second, "bob with 2 views", func(s string) bool { return strings.Contains(s, "bob: 2 online") })

	signIn(bob, "bob")
	chromium.WaitText(t, ctx, "#shared", 10*time.Second, "the image shared with bob", func(s string) bool {
		return strings.Contains(s, "alice") && strings.Contains(s, "Fetch")
	})
	if err := chromedp.Do(ctx, chromedp.Click("#shared .fetch"), chromedp.WaitVisible("#flash")); err != nil {
		t.Fatalf("bob fetches: %v", err)
	}
	chromium.WaitText(t, ctx, "#flash", 5*time.Second, "the fetch done", func(s string) bool { return strings.Contains(s, "Fetched") && strings.Contains(s, "leased") })
	if _, ok := bob.store.Get(id); !ok {
		t.Fatal("bob's peer does not hold the image after the fetch")
	}
	if err := chromedp.Do(ctx, chromedp.Click("#shared .view"), chromedp.WaitVisible("#picture")); err != nil {
		t.Fatalf("bob views: %v", err)
	}
	src, err := chromedp.Run(ctx, chromedp.AttributeValue("#picture", "src"))
	if err != nil || !strings.HasPrefix(src.Value, "/app/shown/") {
		t.Fatalf("the view shows %.40q (%v), want the original by a link of the app's", src.Value, err)
	}
	chromium.WaitText(t, ctx, "figcaption", 5*time.Second, "a leased view", func(s string) bool { return strings.Contains(s, "leased view") })
	shot(t, ctx, "app-view.png")
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+bob.LocalAddr()+"/app/"), chromedp.WaitVisible("#shared")); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, "app-home.png")

	for i := 0; i < 2; i++ { // his second view, then one too many
		if err := chromedp.Do(ctx,
			chromedp.Navigate("http://"+bob.LocalAddr()+"/app/"),
			chromedp.WaitVisible("#shared .view"),
			chromedp.Click("#shared .view"),
			chromedp.WaitVisible("#picture"),
		); err != nil {
			t.Fatalf("bob views again: %v", err)
		}
	}
	src, _ = chromedp.Run(ctx, chromedp.AttributeValue("#picture", "src"))
	if src.Value != "/app/images/denied.png" {
		t.Fatalf("a view with no views left shows %.60q, want the default image", src.Value)
	}
	chromium.WaitText(t, ctx, "figcaption", 5*time.Second, "the reason", func(s string) bool { return strings.Contains(s, "no_views_left") })
}

// appSignIn signs user in to p's app in the browser of ctx.
func appSignIn(t *testing.T, ctx context.Context, p *testPeer, user string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+p.LocalAddr()+"/app/"),
		chromedp.WaitVisible("#signin"),
		chromedp.SendKeys("#user", user),
		chromedp.SendKeys("#password", password(user)),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#mine"),
	); err != nil {
		t.Fatalf("%s signs in: %v", user, err)
	}
}

// shot saves a screenshot of the page into $VEIL_SCREENSHOTS, when set:
// the README's pictures come from here.
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("VEIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1000, 700)); err != nil {
		t.Fatal(err)
	}
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The pages refuse a form posted from another site, and a browser that has
// not signed in.
func TestTheUserAppRefusesOtherSitesAndStrangers(t *testing.T) {
	p := offlinePeer(t)
	h := p.localHandler()
	w := localCall(h, "GET", "/app/", "127.0.0.1", false, "")
	if w.Code != 303 || w.Header().Get("Location") != "/app/signin" {
		t.Fatalf("a stranger: %d %s", w.Code, w.Header().Get("Location"))
	}
	r := localCall(h, "POST", "/app/signin", "127.0.0.1", false, "user=alice&password=wrong")
	if r.Code != 401 {
		t.Fatalf("a wrong password: %d", r.Code)
	}
	req := newFormRequest("/app/signin", "user=alice&password=secret")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if w := serve(h, req); w.Code != 403 {
		t.Fatalf("a sign-in posted from another site: %d", w.Code)
	}
	req = newFormRequest("/app/signin", "user=alice&password=secret")
	w = serve(h, req)
	if w.Code != 303 || !strings.Contains(w.Header().Get("Set-Cookie"), "SameSite=Strict") {
		t.Fatalf("a good sign-in: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP %q", csp)
	}
}
