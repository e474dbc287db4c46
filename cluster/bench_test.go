package cluster_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"slices"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/client"
	"veil/cluster/registry"
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
	_ = addrs
	cl := loggedIn(b, c, "alice")
	loggedIn(b, c, "bob")
	req := client.HideRequest{Secret: secret, Viewers: map[string]int{"bob": 2}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Hide(context.Background(), req); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkView measures a view through a three-node cluster, end to end
// (client → coordinator → worker reveal → replicated quota step → reply),
// and reports its median and p99 next to those of the replicated step
// alone (the same view's registry command, committed by a majority).
func BenchmarkView(b *testing.B) {
	c := cluster.NewTestCluster(b, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.APIAddr())
	}
	mk := func(name string) *client.Client {
		cl, err := client.New(client.Config{Nodes: addrs})
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Register(context.Background(), name, "password of "+name); err != nil {
			b.Fatal(err)
		}
		if _, err := cl.Login(context.Background(), name, "password of "+name); err != nil {
			b.Fatal(err)
		}
		return cl
	}
	alice, bob := mk("alice"), mk("bob")
	res, err := alice.Put(context.Background(), benchSecret(b), nil, map[string]int{"bob": 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	end := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := bob.View(context.Background(), res.PNG); err != nil {
			b.Fatal(err)
		}
		end = append(end, time.Since(start))
	}
	b.StopTimer()
	repl := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := coord.SubmitForTest(registry.View{ID: res.ImageID, Viewer: "bob"}); err != nil {
			b.Fatal(err)
		}
		repl = append(repl, time.Since(start))
	}
	b.ReportMetric(percentile(end, 0.50), "view-p50-ms")
	b.ReportMetric(percentile(end, 0.99), "view-p99-ms")
	b.ReportMetric(percentile(repl, 0.50), "replication-p50-ms")
	b.ReportMetric(percentile(repl, 0.99), "replication-p99-ms")
}

func percentile(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / float64(time.Millisecond)
}
