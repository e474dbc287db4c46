package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkStateApplyView measures one view spent, in memory.
func BenchmarkStateApplyView(b *testing.B) {
	s := fixture(b)
	s.Apply(11, PutImage{ID: id(2), Owner: "ann", Viewers: map[string]int{"bob": MaxViews}, Created: t0})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Apply(s.LastApplied()+1, View{ID: id(2), Viewer: "bob", IdemKey: fmt.Sprint(i)})
	}
}

// BenchmarkStoreProposeCommit measures a view made durable on one node:
// propose, then commit, each one transaction and two fdatasyncs. batch is
// how many commands share the pair.
func BenchmarkStoreProposeCommit(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.Propose(epochA, enc(b, RegisterUser{Name: "ann", PasswordHash: testHash}),
				enc(b, PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": MaxViews}, Created: t0}))
			s.Commit(2)
			cmds := make([][]byte, batch)
			n := 0
			for b.Loop() {
				for j := range cmds {
					cmds[j] = enc(b, View{ID: id(1), Viewer: "bob", IdemKey: fmt.Sprint(n)})
					n++
				}
				es, err := s.Propose(epochA, cmds...)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Commit(es[len(es)-1].Index); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/command")
		})
	}
}

// BenchmarkCheckPasswordDefault measures one login's password check at
// DefaultArgon2: the cost that tokens keep off every other request.
func BenchmarkCheckPasswordDefault(b *testing.B) {
	h, err := HashPassword(DefaultArgon2, seeded(1), "correct horse")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := CheckPassword(h, "correct horse"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyToken measures the check of a bearer token.
func BenchmarkVerifyToken(b *testing.B) {
	key := make([]byte, MinTokenKeyLen)
	tok := IssueToken(key, "ann", t0, 1<<40)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyToken(key, tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// filled returns a state of users users and images images, each image
// with three viewers, as the registry of a long-lived deployment: the
// scale of BenchmarkRegistryScale and of veil bench --registry.
func filled(tb testing.TB, users, images int) *State {
	tb.Helper()
	s := NewState()
	name := func(i int) string { return fmt.Sprintf("user%06d", i) }
	for i := range users {
		s.Apply(s.LastApplied()+1, RegisterUser{Name: name(i), PasswordHash: testHash})
	}
	rng := rand.New(rand.NewPCG(uint64(users), uint64(images)))
	for i := range images {
		owner := i % users
		// Ids are random, as the coordinator's are: a restore reads images in
		// id order, which is then no order of owners or of times.
		c := PutImage{ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), Owner: name(owner), Created: t0.Add(time.Duration(i) * time.Millisecond),
			Viewers: map[string]int{name((owner + 1) % users): 3, name((owner + 7) % users): 3, name((owner + 31) % users): 3},
			Digest:  bytes.Repeat([]byte{byte(i)}, DigestLen)}
		if out := s.Apply(s.LastApplied()+1, c); out.Err != nil {
			tb.Fatal(out.Err)
		}
	}
	return s
}

// BenchmarkRegistryScale measures, at VEIL_BENCH_IMAGES images (10,000
// unless set; 1,000,000 for the figures in docs/benchmarks.md) and a tenth
// as many users: a user's lists, a view, freezing, the snapshot written
// and restored, and the heap an image costs.
func BenchmarkRegistryScale(b *testing.B) {
	images := 10_000
	if v := os.Getenv("VEIL_BENCH_IMAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		images = n
	}
	users := max(images/10, 32)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := filled(b, users, images)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("%d images, %d users: %.0f heap bytes an image", images, users, float64(after.HeapAlloc-before.HeapAlloc)/float64(images))
	b.Run("SharedWith", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if len(s.SharedWith(fmt.Sprintf("user%06d", i%users))) == 0 {
				b.Fatal("nothing shared")
			}
		}
	})
	b.Run("ImagesOwnedBy", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if len(s.ImagesOwnedBy(fmt.Sprintf("user%06d", i%users))) == 0 {
				b.Fatal("nothing owned")
			}
		}
	})
	var ids []string
	s.t.images.Ascend(func(img *imageRec) bool {
		ids = append(ids, img.id)
		return len(ids) < users
	})
	b.Run("View", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			owner := i % users
			s.Apply(s.LastApplied()+1, View{ID: ids[owner%len(ids)], Viewer: fmt.Sprintf("user%06d", (owner+1)%users)})
		}
	})
	b.Run("Freeze", func(b *testing.B) {
		for b.Loop() {
			s.Freeze()
		}
	})
	var snap bytes.Buffer
	b.Run("WriteSnapshot", func(b *testing.B) {
		for b.Loop() {
			snap.Reset()
			if _, err := s.Freeze().WriteSnapshot(&snap); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(snap.Len())/float64(images), "B/image")
	})
	// A node restores with nothing else in its heap.
	s = nil
	runtime.GC()
	b.Run("Restore", func(b *testing.B) {
		for b.Loop() {
			if err := NewState().Restore(snap.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
