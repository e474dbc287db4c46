package registry

import (
	"fmt"
	"testing"
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
