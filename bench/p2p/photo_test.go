package p2p

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"veil/cluster/client"
	"veil/peer"
)

// photoJPEG is a JPEG of about n bytes whose bytes are as incompressible as
// a photograph's: noise at quality 95 costs about 1.3 bytes a pixel. What a
// veiled image costs depends on the secret's bytes only, so this stands for
// a photograph of that size without shipping one.
func photoJPEG(t *testing.T, n int, seed uint64) []byte {
	side := 16
	for side*side*13/10 < n {
		side += 16
	}
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	rand.NewChaCha8([32]byte{byte(seed)}).Read(img.Pix)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// plainView is a view as curl makes it: a login, then the veiled PNG as the
// body of one POST, no retry.
func plainView(ctx context.Context, api, user string, veiled []byte) (int, []byte, error) {
	creds, _ := json.Marshal(map[string]string{"name": user, "password": Password(user)})
	resp, err := http.Post("http://"+api+"/v1/login", "application/json", bytes.NewReader(creds))
	if err != nil {
		return 0, nil, err
	}
	var lr struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/v1/view", bytes.NewReader(veiled))
	req.Header.Set("Authorization", "Bearer "+lr.Token)
	req.Header.Set("Content-Type", "image/png")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// A photograph of 2 MB, at every stealth level, between real processes:
// alice's peer puts it; bob views it through the cloud as a plain HTTP
// client does (the veiled PNG reaches 55 MB at the stealthiest level, past
// the 32 MiB that once capped every body); bob's peer fetches it from
// alice's and leases views; with every node down, bob's peer still shows
// it. Every view is the photograph byte for byte. A 5 MB photograph goes
// through at the compact level, and the levels that cannot take it say so
// before any work, naming what they take.
func TestAPhotographIsViewedAtEveryLevelOnlineAndOffline(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, alice, bob := aliceAndBob(t, ctx, dir)
	photo := photoJPEG(t, 2<<20, 1)
	ids := map[string]string{}
	for i, level := range []string{"compact", "balanced", "stealthy"} {
		start := time.Now()
		veiled, id, err := alice.Client().Hide(ctx, client.HideRequest{Secret: photo, Viewers: map[string]int{"bob": 3}, Stealth: level})
		if err != nil {
			t.Fatalf("%s: put of a %d-byte photograph: %v", level, len(photo), err)
		}
		put := time.Since(start)
		ids[level] = id
		start = time.Now()
		status, got, err := plainView(ctx, c.APIs()[(i+1)%3], "bob", veiled)
		if err != nil || status != http.StatusOK || !bytes.Equal(got, photo) {
			t.Fatalf("%s: plain view of a %d-byte veiled PNG: %d, %v, %d bytes back (%.200s)", level, len(veiled), status, err, len(got), got)
		}
		viewed := time.Since(start)
		if err := waitHolder(ctx, bob.Client(), id, "alice"); err != nil {
			t.Fatal(err)
		}
		res, err := bob.Client().Fetch(ctx, id, "alice", peer.LeaseAll)
		if err != nil || res.Lease == nil || res.Moved != int64(len(veiled)) {
			t.Fatalf("%s: fetch: %+v, %v", level, res, err)
		}
		t.Logf("%s: %d-byte photograph, %d-byte veiled PNG (%.1fx): put %v, plain view %v, fetch %v",
			level, len(photo), len(veiled), float64(len(veiled))/float64(len(photo)), put.Round(time.Millisecond), viewed.Round(time.Millisecond), res.Duration)
	}

	big := photoJPEG(t, 5<<20, 2)
	if _, _, err := bob.Client().Hide(ctx, client.HideRequest{Secret: big, Viewers: map[string]int{"alice": 1}, Stealth: "compact"}); err != nil {
		t.Fatalf("compact put of a %d-byte photograph: %v", len(big), err)
	}
	for _, level := range []string{"balanced", "stealthy"} {
		_, _, err := bob.Client().Hide(ctx, client.HideRequest{Secret: big, Viewers: map[string]int{"alice": 1}, Stealth: level})
		if err == nil || !strings.Contains(err.Error(), "secret_too_large") || !strings.Contains(err.Error(), "at the "+level+" level a put takes at most") {
			t.Fatalf("%s put of a %d-byte photograph: %v, want secret_too_large naming the limit", level, len(big), err)
		}
	}

	for _, i := range c.Live() {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	for level, id := range ids {
		v, err := bob.Client().View(ctx, id)
		if err != nil || !v.Offline || !bytes.Equal(v.Secret, photo) {
			t.Fatalf("%s: offline view with every node down: %v (offline %v, %d bytes)", level, err, v.Offline, len(v.Secret))
		}
	}
}
