package peer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testID = "0123456789abcdef0123456789abcdef"

// An image survives a restart; a half-written one (bytes without a
// record, a record whose bytes were cut) is never taken for an image.
func TestTheStoreKeepsWholeImagesOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	veiled, orig := []byte("veiled bytes"), []byte("original")
	if _, err := s.PutOwn(testID, "alice", veiled, orig); err != nil {
		t.Fatal(err)
	}
	cut := strings.Repeat("1", 32)
	if _, err := s.PutOwn(cut, "alice", []byte("another veiled image"), orig); err != nil {
		t.Fatal(err)
	}
	// A crash between the PNG and its record.
	orphan := strings.Repeat("2", 32)
	os.WriteFile(filepath.Join(dir, "images", orphan+".png"), []byte("half"), 0o600)
	// A PNG damaged after its record.
	os.WriteFile(filepath.Join(dir, "images", cut+".png"), []byte("another"), 0o600)

	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Holds(); len(got) != 1 || got[0] != testID {
		t.Fatalf("holds %v after a restart, want only %s", got, testID)
	}
	if b, err := s.Veiled(testID); err != nil || string(b) != string(veiled) {
		t.Fatalf("veiled: %q %v", b, err)
	}
	if b, err := s.Original(testID); err != nil || string(b) != string(orig) {
		t.Fatalf("original: %q %v", b, err)
	}
	for _, gone := range []string{orphan + ".png", cut + ".png", cut + ".json"} {
		if _, err := os.Stat(filepath.Join(dir, "images", gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", gone, err)
		}
	}
}

// A partial fetch survives a restart; finished, it is checked against the
// digest, and a mismatch throws the bytes away.
func TestAPartialFetchIsCheckedBeforeItIsKept(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir)
	f, off, err := s.partial(testID)
	if err != nil || off != 0 {
		t.Fatalf("partial: %v, offset %d", err, off)
	}
	f.Write([]byte("veiled "))
	f.Close()
	s, _ = OpenStore(dir)
	f, off, _ = s.partial(testID)
	if off != 7 {
		t.Fatalf("after a restart the partial file holds %d bytes, want 7", off)
	}
	f.Write([]byte("bytes"))
	f.Close()
	if _, err := s.finishPartial(testID, "alice", "alice", strings.Repeat("0", 64)); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("wrong digest: %v", err)
	}
	if _, off, _ := s.partial(testID); off != 0 {
		t.Fatalf("a mismatched partial file was kept (%d bytes)", off)
	}
	f, _, _ = s.partial(testID)
	f.Write([]byte("veiled bytes"))
	f.Close()
	sum := sha256.Sum256([]byte("veiled bytes"))
	e, err := s.finishPartial(testID, "alice", "bob", hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	if e.Own || e.From != "bob" || e.Size != 12 {
		t.Fatalf("entry %+v", e)
	}
	if _, err := s.Original(testID); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("a fetched image has an original: %v", err)
	}
}

func TestNothingButAnImageIDBecomesAFileName(t *testing.T) {
	s, _ := OpenStore(t.TempDir())
	for _, id := range []string{"../../etc/passwd", "", strings.Repeat("A", 32), testID + "0"} {
		if _, err := s.PutOwn(id, "alice", []byte("x"), []byte("y")); err == nil {
			t.Errorf("PutOwn(%q) was taken", id)
		}
		if _, _, err := s.partial(id); err == nil {
			t.Errorf("partial(%q) was taken", id)
		}
	}
}

// The device key is made once, kept private, and refused when others can
// read it.
func TestTheDeviceKeyIsKeptPrivately(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode().Perm())
	}
	b, err := LoadIdentity(dir)
	if err != nil || a.Device() != b.Device() {
		t.Fatalf("the key changed across a restart: %v", err)
	}
	os.Chmod(filepath.Join(dir, identityFile), 0o644)
	if _, err := LoadIdentity(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a key readable by others: %v", err)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"format":1,"id":"0123456789abcdef0123456789abcdef","owner":"alice","digest":"` + strings.Repeat("a", 64) + `","size":3,"own":true}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`{"format":1,"id":"../x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeMeta(b)
		if err != nil {
			return
		}
		if checkID(e.ID) != nil || len(e.Digest) != 64 || e.Size <= 0 {
			t.Fatalf("accepted %+v", e)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"format":1,"cloud_key":"` + strings.Repeat("A", 43) + `=","statement":"x"}`))
	f.Add([]byte(`{"format":1,"directory":{"images":[{"id":"x","holders":[{}]}]},"requests":[{"user":"u"}]}`))
	f.Add([]byte(`{"format":9}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		if s.Format < 1 || s.Format > stateVersion || (s.CloudKey != "" && s.cloudKey() == nil) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func FuzzDecodeLeaseFile(f *testing.F) {
	id := newID(f)
	l, err := openLeases(f.TempDir(), id)
	if err != nil {
		f.Fatal(err)
	}
	good := leaseFile{ID: testID, Image: testID, Views: 2, Remaining: 1, Sealed: []byte("x")}
	if err := l.write(good); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(l.path(testID))
	f.Add(b)
	f.Add([]byte{1})
	f.Add(append([]byte{2}, b[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		lf, err := decodeLeaseFile(l.aed, testID, b)
		if err != nil {
			return
		}
		if lf.ID != testID || lf.Remaining < 0 || lf.Remaining > lf.Views {
			t.Fatalf("accepted %+v", lf)
		}
	})
}
