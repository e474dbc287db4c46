package load

import (
	"bytes"
	"image/jpeg"
	"math"
	"testing"
)

// size decodes a JPEG's header.
func size(t *testing.T, b []byte) (w, h int) {
	t.Helper()
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	return cfg.Width, cfg.Height
}

func near(got, want int) bool { return math.Abs(float64(got)/float64(want)-1) <= photoSlack }

func TestAGeneratedPhotographIsAJPEGOfAboutTheSizeAsked(t *testing.T) {
	const target = 150_000 // small, for the test's time; the bench asks for PhotoBytes
	b, err := GeneratedPhoto(target, 1)
	if err != nil {
		t.Fatal(err)
	}
	size(t, b)
	if !near(len(b), target) {
		t.Fatalf("%d bytes, want %d within %.0f%%", len(b), target, 100*photoSlack)
	}
	again, _ := GeneratedPhoto(target, 1)
	if !bytes.Equal(again, b) {
		t.Fatal("the same seed made another photograph")
	}
}

func TestAReencodedPhotographIsScaledUpToTheSizeAskedButNeverDown(t *testing.T) {
	src, err := GeneratedPhoto(40_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	sw, sh := size(t, src)
	cases := []struct {
		name   string
		target int
		bigger bool
	}{
		{"a small photograph is scaled up", 160_000, true},
		{"a photograph longer than asked keeps its size", 10_000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReencodePhoto(src, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			w, h := size(t, b)
			switch {
			case tc.bigger && (w <= sw || !near(len(b), tc.target)):
				t.Fatalf("%dx%d, %d bytes from %dx%d: want it larger, about %d bytes", w, h, len(b), sw, sh, tc.target)
			case !tc.bigger && (w != sw || h != sh):
				t.Fatalf("%dx%d from %dx%d: want its own size", w, h, sw, sh)
			}
			if r := float64(w) / float64(h); math.Abs(r-float64(sw)/float64(sh)) > 0.01 {
				t.Errorf("aspect %.3f, want the source's %.3f", r, float64(sw)/float64(sh))
			}
		})
	}
	if _, err := ReencodePhoto([]byte("not a photograph"), 1000); err == nil {
		t.Error("re-encoded what is not an image")
	}
}
