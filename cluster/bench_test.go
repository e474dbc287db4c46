package cluster_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/client"
	"veil/stego"
)

// benchSecret is a 64x64 PNG with some texture, the secret both benchmarks
// hide.
func benchSecret(b *testing.B) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 4), uint8(y * 4), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkHideLocal is the raw pipeline without the cluster: the reference
// the cluster's throughput is compared with.
func BenchmarkHideLocal(b *testing.B) {
	secret := benchSecret(b)
	key, err := stego.NewKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	meta := stego.Meta{Owner: "alice", Viewers: map[string]int{"bob": 2}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := stego.Hide(secret, meta, nil, key, stego.Options{}); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkHideThroughCluster hides the same secret through a three-node
// in-process cluster over loopback HTTP, clients going to the coordinator.
func BenchmarkHideThroughCluster(b *testing.B) {
	secret := benchSecret(b)
	c := cluster.NewTestCluster(b, 3, nil)
	c.WaitCoordinator(20 * time.Second)
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.APIAddr())
	}
	cl, err := client.New(client.Config{Nodes: addrs})
	if err != nil {
		b.Fatal(err)
	}
	req := client.HideRequest{Secret: secret, Owner: "alice", Viewers: map[string]int{"bob": 2}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Hide(context.Background(), req); err != nil {
				b.Error(err)
			}
		}
	})
}
