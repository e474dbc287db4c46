package peer

import (
	"testing"
	"time"
)

func TestAnOpenedOriginalIsShownToItsSessionForAMinute(t *testing.T) {
	var s shownImages
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	a := s.put("session-a", []byte("first"), "image/png", t0)
	if img, ok := s.get("session-a", a, t0.Add(shownTTL-time.Second)); !ok || string(img.body) != "first" {
		t.Fatalf("its own session, within the minute: %v %q", ok, img.body)
	}
	if _, ok := s.get("session-b", a, t0); ok {
		t.Fatal("another session was shown the original")
	}
	if _, ok := s.get("session-a", a, t0.Add(shownTTL)); ok {
		t.Fatal("the original was still shown after its minute")
	}
	b := s.put("session-a", []byte("second"), "image/png", t0)
	c := s.put("session-a", []byte("third"), "image/png", t0.Add(time.Second))
	d := s.put("session-a", []byte("fourth"), "image/png", t0.Add(2*time.Second))
	if _, ok := s.get("session-a", b, t0.Add(2*time.Second)); ok || len(s.m) != maxShown {
		t.Fatalf("%d originals held, the oldest still shown: want the newest %d only", len(s.m), maxShown)
	}
	for _, tok := range []string{c, d} {
		if _, ok := s.get("session-a", tok, t0.Add(2*time.Second)); !ok {
			t.Fatal("one of the newest originals is not shown")
		}
	}
}
