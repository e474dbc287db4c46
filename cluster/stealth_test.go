package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"veil/cluster/api"
	"veil/cluster/registry"
	"veil/stego"
)

// noiseJPEG is a JPEG of noise, w×h: as hard to compress as a photograph's
// own bytes, which is what decides a veiled image's size.
func noiseJPEG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.NewChaCha8([32]byte{byte(seed)}).Read(img.Pix)
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Whatever a node veils, at any level, a node opens: a view carries the
// veiled image, which may be far larger than any put's body, and the node
// sizes a view's body by the largest image it writes, not by the put's
// limit. Here the put's limit is 1 MiB and the veiled images reach several.
func TestEveryLevelIsViewedEvenWhenTheVeiledImageIsLargerThanAnyPut(t *testing.T) {
	c := NewTestCluster(t, 3, func(i int, cfg *Config) {
		cfg.MaxBodyBytes, cfg.MaxSecretBytes = 1<<20, 1<<20
	})
	c.WaitCoordinator(20 * time.Second)
	alice, bob := register(t, c.Nodes[0], "alice"), register(t, c.Nodes[1], "bob")
	secret := noiseJPEG(t, 300, 300, 1)
	sizes := map[string]int{}
	for _, level := range []string{"compact", "balanced", "stealthy", ""} {
		t.Run("level "+level, func(t *testing.T) {
			r := callRetry(t, "POST", "http://"+c.Nodes[2].APIAddr()+"/v1/images?viewers=bob=1&stealth="+level, secret,
				alice.auth(hdrIdempotencyKey, "put-"+level))
			if r.status != http.StatusOK {
				t.Fatalf("put: %d %s", r.status, r.body)
			}
			sizes[level] = len(r.body)
			if level == "balanced" || level == "stealthy" {
				if int64(len(r.body)) <= 1<<20 {
					t.Fatalf("the veiled image is %d bytes: not above the put's limit, so this test shows nothing", len(r.body))
				}
			}
			v := view(t, c.Nodes[1], bob, r.body)
			if v.status != http.StatusOK || !bytes.Equal(v.body, secret) {
				t.Fatalf("view of a %d-byte veiled image: %d %.200s", len(r.body), v.status, v.body)
			}
		})
	}
	def, bal := float64(sizes[""]), float64(sizes["balanced"])
	if !(sizes["compact"] < sizes["balanced"] && sizes["balanced"] < sizes["stealthy"]) || def < 0.95*bal || def > 1.05*bal {
		t.Errorf("veiled sizes by level %v: want compact < balanced (the default) < stealthy", sizes)
	}
}

// A secret over what the level takes, or a body over the node's limits (a
// put's, a view's, a login's), is refused with 413 before any work, and the
// answer names the limits; a level that does not exist is a 400. None of
// them changes anything.
func TestOversizedPutsAndViewsAreRefusedUpFrontWithTheLimit(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	c.WaitCoordinator(20 * time.Second)
	n := c.Nodes[1]
	alice := register(t, n, "alice")
	register(t, n, "bob")
	var st api.StatusReply
	if err := json.Unmarshal(call(t, "GET", "http://"+n.APIAddr()+"/v1/status", nil, nil).body, &st); err != nil || st.Limits == nil {
		t.Fatalf("status: %v, limits %+v", err, st.Limits)
	}
	stealthy := st.Limits.MaxSecretBytes["stealthy"]
	if stealthy != int64(stego.MaxSecret(stego.Stealthy, stego.Options{})) || st.Limits.MaxImageBytes < stego.MaxVeiledBytes(stego.Options{}) ||
		st.Limits.DefaultStealth != "balanced" || st.Limits.MaxSecretBytes["compact"] != DefaultMaxSecretBytes {
		t.Fatalf("limits %+v", st.Limits)
	}
	// A PNG whose padding chunk makes it one byte over the stealthy limit.
	big := pngOfSize(t, int(stealthy)+1)
	base := "http://" + n.APIAddr()
	for _, tc := range []struct {
		name, path string
		body       []byte
		header     map[string]string
		status     int
		code, says string
	}{
		{"a secret over the stealthy level's limit", "/v1/images?viewers=bob&stealth=stealthy", big, alice.auth(), 413, "secret_too_large", fmt.Sprintf("at most %s bytes", commas(stealthy))},
		{"a level that does not exist", "/v1/images?viewers=bob&stealth=invisible", secretPNG(t, 1), alice.auth(), 400, "bad_request", "compact, balanced or stealthy"},
		{"a put body over the limit", "/v1/images?viewers=bob", make([]byte, 32<<20+1), alice.auth(), 413, "body_too_large", "33,554,432 bytes for a request"},
		{"a view body over the limit", "/v1/view", make([]byte, st.Limits.MaxImageBytes+1), alice.auth(), 413, "body_too_large", "for a veiled image"},
		{"a login of 30 MiB", "/v1/login", make([]byte, 30<<20), nil, 413, "body_too_large", "8,192 bytes for a name and a password"},
		{"a registration of 30 MiB", "/v1/users", make([]byte, 30<<20), nil, 413, "body_too_large", "8,192 bytes for a name and a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := call(t, "POST", base+tc.path, tc.body, tc.header)
			if r.status != tc.status || errorCode(t, r) != tc.code || !strings.Contains(string(r.body), tc.says) {
				t.Fatalf("%d %s, want %d %s saying %q", r.status, r.body, tc.status, tc.code, tc.says)
			}
			t.Logf("%s: answered in %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
	// The same oversized secret at the compact level is veiled.
	if r := callRetry(t, "POST", base+"/v1/images?viewers=bob&stealth=compact", big, alice.auth(hdrIdempotencyKey, "big")); r.status != http.StatusOK {
		t.Fatalf("compact put of %d bytes: %d %.200s", len(big), r.status, r.body)
	}
	for _, node := range c.Nodes {
		var images int
		node.repl.readLocal(func(s *registry.State) { _, images, _ = s.Counts() })
		if images > 1 {
			t.Errorf("%s holds %d images; only the compact put took effect", node.Name(), images)
		}
	}
}

// pngOfSize is a valid PNG of exactly n bytes: a tiny picture with a
// private chunk of padding.
func pngOfSize(t testing.TB, n int) []byte {
	t.Helper()
	b := secretPNG(t, 1)
	iend := b[len(b)-12:]
	pad := n - len(b) - 12
	if pad < 0 {
		t.Fatalf("a PNG cannot be as small as %d bytes", n)
	}
	var out bytes.Buffer
	out.Write(b[:len(b)-12])
	chunk := make([]byte, 12+pad)
	chunk[0], chunk[1], chunk[2], chunk[3] = byte(pad>>24), byte(pad>>16), byte(pad>>8), byte(pad)
	copy(chunk[4:], "vlPd")
	crc := crc32.ChecksumIEEE(chunk[4 : 8+pad])
	chunk[8+pad], chunk[9+pad], chunk[10+pad], chunk[11+pad] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	out.Write(chunk)
	out.Write(iend)
	return out.Bytes()
}
