package cluster

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"veil/cluster/registry"
	"veil/stego"
)

// noisyPNG is a PNG of w×h pixels of noise: as large as such a PNG gets.
func noisyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTheDecodeBudgetBoundsImageWork gives a node a decoding budget that
// holds one small put: a put whose work could never fit is refused at once
// (422 image_too_large) and one that does not fit now waits its turn (429
// overloaded, with Retry-After), asked of the node with a plain client;
// neither changes the registry, and both go through once there is room.
func TestTheDecodeBudgetBoundsImageWork(t *testing.T) {
	small, big := secretPNG(t, 1), noisyPNG(t, 160, 160)
	smallCost, _, err := stego.HideCost(small, nil, stego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bigCost, _, err := stego.HideCost(big, nil, stego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	budget := max(smallCost, 1<<20)
	if bigCost <= budget {
		t.Fatalf("the big secret costs %d, within the budget of %d: it tests nothing", bigCost, budget)
	}
	c := NewTestCluster(t, 1, func(_ int, cfg *Config) { cfg.DecodeBudget = budget })
	n := c.WaitCoordinator(20 * time.Second)
	alice := register(t, n, "alice")
	register(t, n, "bob")
	images := func() int {
		var k int
		n.ReadRegistry(func(s *registry.State) { _, k, _ = s.Counts() })
		return k
	}

	url := "http://" + n.APIAddr() + "/v1/images?viewers=bob"
	r := call(t, "POST", url, big, alice.auth(hdrIdempotencyKey, "big"))
	if r.status != http.StatusUnprocessableEntity || errorCode(t, r) != "image_too_large" {
		t.Fatalf("a put over the whole budget: %d %s", r.status, r.body)
	}

	release, err := n.budget.reserve(budget - smallCost + 1) // another image's work holds the rest
	if err != nil {
		t.Fatal(err)
	}
	r = call(t, "POST", url, small, alice.auth(hdrIdempotencyKey, "small"))
	if r.status != http.StatusTooManyRequests || errorCode(t, r) != "overloaded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("a put while the budget is held: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if k := images(); k != 0 {
		t.Fatalf("%d images registered after two refused puts", k)
	}
	release()
	if r := call(t, "POST", url, small, alice.auth(hdrIdempotencyKey, "small")); r.status != http.StatusOK {
		t.Fatalf("the put once the budget is free: %d %s", r.status, r.body)
	}
	if used := n.budget.inUse(); used != 0 {
		t.Fatalf("%d bytes of the budget still held after the work ended", used)
	}
}
