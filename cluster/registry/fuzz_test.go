package registry

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds Decode arbitrary bytes. It must not panic; what it
// accepts in the current version must be the canonical encoding of the
// command (Encode gives the same bytes back), and in an older version must
// mean the same command as its re-encoding; and applying the command to a populated state must
// either take effect or change nothing but LastApplied.
func FuzzDecode(f *testing.F) {
	for _, c := range sampleCommands() {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{Version, byte(KindView)})
	addGoldens(f, "testdata/command-v1-put.hex", "testdata/command-v2-peer-up.hex")
	// The base state holds a lease (bob's, of image 1, id(200)), so that
	// returns can take effect.
	base := fixture(f)
	if out := base.Apply(11, TakeLease{ID: id(200), Image: id(1), Viewer: "bob", Device: id(9), Views: 1, Issued: t0, Expires: t0.Add(time.Hour)}); out.Err != nil {
		f.Fatal(out.Err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode(Decode(b)): %v", err)
		}
		if b[0] == Version && !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
		if back, err := Decode(again); err != nil || !sameCommand(c, back) {
			t.Fatalf("Decode(Encode(c)) = %#v, %v; want %#v", back, err, c)
		}
		s := base.Clone()
		out := s.Apply(s.LastApplied()+1, c)
		if out.Err != nil {
			want := base.Clone()
			want.lastApplied = s.LastApplied()
			if !bytes.Equal(want.Snapshot(), s.Snapshot()) {
				t.Fatalf("refused %#v (%v) changed the state", c, out.Err)
			}
		}
		if _, err := decodeSnapshot(s.Snapshot()); err != nil {
			t.Fatalf("state after %#v does not restore: %v", c, err)
		}
	})
}

// FuzzRestore feeds State.Restore arbitrary bytes. It must not panic; a
// refused snapshot must leave the state as it was; an accepted one must
// snapshot back to the same bytes.
func FuzzRestore(f *testing.F) {
	s := fixture(f)
	s.Apply(11, View{ID: id(1), Viewer: "bob", IdemKey: "k"})
	s.Apply(12, Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 0}, IdemKey: "s"})
	f.Add(s.Snapshot())
	f.Add(NewState().Snapshot())
	f.Add(fixture(f).Snapshot())
	f.Add(withPeers(f).Snapshot())
	f.Add(withLeases(f).Snapshot())
	addGoldens(f, "testdata/snapshot-v1.hex", "testdata/snapshot-v2.hex", "testdata/snapshot-v3.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		// Half the inputs of the current version get their checksum set,
		// so that what follows it in the decoder is fuzzed too.
		if len(b) > len(snapshotMagic)+5 && b[len(snapshotMagic)] == snapshotVersion && len(b)%2 == 0 {
			b = resum(bytes.Clone(b))
		}
		st := fixture(t)
		before := st.Snapshot()
		if err := st.Restore(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Restore error %v does not wrap ErrMalformed", err)
			}
			if !bytes.Equal(before, st.Snapshot()) {
				t.Fatal("a refused snapshot changed the state")
			}
			return
		}
		got := st.Snapshot()
		if b[len(snapshotMagic)] == snapshotVersion && !bytes.Equal(got, b) {
			t.Fatalf("restored state snapshots differently:\n in  %x\n out %x", b, got)
		}
		again := NewState()
		if err := again.Restore(got); err != nil || !bytes.Equal(again.Snapshot(), got) {
			t.Fatalf("the snapshot of a restored state does not restore to itself: %v", err)
		}
	})
}

// FuzzLogEntry decodes log values as a store reads them: a damaged one is
// an error wrapping ErrMalformed, never a panic, and one that decodes is
// the encoding of what it decoded to.
func FuzzLogEntry(f *testing.F) {
	for i, c := range script(f, 4) {
		f.Add(uint64(i+1), encodeEntryValue(Entry{Index: uint64(i + 1), Epoch: epochA, Command: c}))
	}
	f.Add(uint64(9), append(appendEpoch(nil, epochA), script(f, 1)[0]...)) // format 1, no checksum
	f.Fuzz(func(t *testing.T, index uint64, v []byte) {
		s := &Store{sumsFrom: 5}
		e, err := s.decodeEntry(indexKey(index), v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if e.Index != index {
			t.Fatalf("entry %d decoded as %d", index, e.Index)
		}
		if len(v) > 0 && v[0] == entryTag && !bytes.Equal(encodeEntryValue(e), v) {
			t.Fatalf("entry %x decodes to %+v, which encodes to %x", v, e, encodeEntryValue(e))
		}
		if index >= s.sumsFrom && (len(v) == 0 || v[0] != entryTag) {
			t.Fatalf("entry %d without a checksum was taken from a store that sums from %d", index, s.sumsFrom)
		}
	})
}

// addGoldens seeds f with the golden files written by older versions.
func addGoldens(f *testing.F, paths ...string) {
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(text)))
		if err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		f.Add(b)
	}
}

// FuzzVerifyToken feeds VerifyToken arbitrary tokens and times. It must not
// panic; every refusal is one of the three token errors; and a token it
// accepts names a valid user.
func FuzzVerifyToken(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	f.Add(IssueToken(key, "ann", t0, time.Hour), t0.Unix())
	f.Add(IssueToken(key, "ann", t0, time.Hour), t0.Add(2*time.Hour).Unix())
	f.Add(IssueToken(bytes.Repeat([]byte{8}, 32), "bob", t0, time.Hour), t0.Unix())
	f.Add("", int64(0))
	f.Add("AAAA", int64(0))
	f.Fuzz(func(t *testing.T, token string, now int64) {
		user, err := VerifyToken(key, token, time.Unix(now, 0))
		switch {
		case err == nil:
			if ValidName(user) != nil {
				t.Fatalf("accepted a token for %q", user)
			}
		case errors.Is(err, ErrTokenMalformed), errors.Is(err, ErrTokenForged), errors.Is(err, ErrTokenExpired):
		default:
			t.Fatalf("VerifyToken error %v is none of the token errors", err)
		}
	})
}
