package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func keyFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "k.key")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if code, _, errs := veil(t, "keygen", "-o", path); code != exitOK {
		t.Fatal(errs)
	}
	return path
}

// writeSecret writes a small PNG to hide.
func writeSecret(t *testing.T, dir string) string {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, 13, 7))
	for i := range m.Pix {
		m.Pix[i] = byte(i * 37)
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	path := filepath.Join(dir, "secret.png")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseViewers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		list  string
		views int
		want  map[string]int
		ok    bool
	}{
		{"names get --views each", "alice,bob", 3, map[string]int{"alice": 3, "bob": 3}, true},
		{"name=views sets each", "alice=3,bob=1", 9, map[string]int{"alice": 3, "bob": 1}, true},
		{"the two forms mix", "alice=2, bob", 5, map[string]int{"alice": 2, "bob": 5}, true},
		{"empty list means no viewers", "", 1, map[string]int{}, true},
		{"a name twice is refused", "alice,alice=2", 1, nil, false},
		{"zero views are refused", "alice=0", 1, nil, false},
		{"--views 0 is refused", "alice", 0, nil, false},
		{"views must be a number", "alice=many", 1, nil, false},
		{"an empty name is refused", "alice,,bob", 1, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseViewers(tc.list, tc.views)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHideThenRevealGivesTheSecretBackByteForByte(t *testing.T) {
	dir := t.TempDir()
	key, secret := keyFile(t, dir), writeSecret(t, dir)
	cover := writeCover(t, dir, 320, 240)
	for _, tc := range []struct {
		name    string
		args    []string
		viewers map[string]int
	}{
		{"generated cover", []string{"--viewers", "alice,bob", "--views", "3"}, map[string]int{"alice": 3, "bob": 3}},
		{"given cover", []string{"--cover", cover, "--viewers", "alice=3,bob=1"}, map[string]int{"alice": 3, "bob": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			veiled := filepath.Join(dir, "veiled.png")
			args := append([]string{"hide", "--key-file", key, "--secret", secret, "--owner", "olivia", "-o", veiled}, tc.args...)
			code, hideOut, errs := veil(t, args...)
			if code != exitOK {
				t.Fatalf("hide: exit %d: %s", code, errs)
			}
			revealed := filepath.Join(dir, "revealed.png")
			code, revealOut, errs := veil(t, "reveal", "--key-file", key, "-o", revealed, veiled)
			if code != exitOK {
				t.Fatalf("reveal: exit %d: %s", code, errs)
			}
			a, _ := os.ReadFile(secret)
			b, _ := os.ReadFile(revealed)
			if !bytes.Equal(a, b) {
				t.Fatal("revealed file differs from the secret")
			}
			var m metaJSON
			if err := json.Unmarshal([]byte(revealOut), &m); err != nil {
				t.Fatalf("reveal's stdout is not JSON: %v: %q", err, revealOut)
			}
			if len(m.ID) != 32 || m.Owner != "olivia" || !reflect.DeepEqual(m.Viewers, tc.viewers) || m.Created == "" {
				t.Fatalf("metadata %+v", m)
			}
			if revealOut != hideOut {
				t.Errorf("hide printed %q, reveal %q", hideOut, revealOut)
			}
		})
	}
}

func TestHideKeepsTheCoverSize(t *testing.T) {
	dir := t.TempDir()
	veiled := filepath.Join(dir, "v.png")
	code, _, errs := veil(t, "hide", "--key-file", keyFile(t, dir), "--secret", writeSecret(t, dir),
		"--owner", "o", "--cover", writeCover(t, dir, 333, 222), "-o", veiled)
	if code != exitOK {
		t.Fatal(errs)
	}
	f, _ := os.Open(veiled)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 333 || cfg.Height != 222 || cfg.ColorModel != color.RGBAModel {
		t.Fatalf("veiled image %+v, %v", cfg, err)
	}
}

func TestHideFailures(t *testing.T) {
	dir := t.TempDir()
	key, secret := keyFile(t, dir), writeSecret(t, dir)
	small := writeCover(t, dir, 64, 48) // holds nothing
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte("not an image"), 0o644)
	out := filepath.Join(dir, "o.png")
	base := []string{"hide", "--key-file", key, "--secret", secret, "--owner", "o", "-o", out}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no key file", []string{"hide", "--secret", secret, "--owner", "o", "-o", out}, exitUsage},
		{"no owner", []string{"hide", "--key-file", key, "--secret", secret, "-o", out}, exitUsage},
		{"no output", []string{"hide", "--key-file", key, "--secret", secret, "--owner", "o"}, exitUsage},
		{"bad owner name", append(base, "--owner", "a b"), exitUsage},
		{"zero views", append(base, "--viewers", "a=0"), exitUsage},
		{"stray argument", append(base, "extra"), exitUsage},
		{"secret not an image", append(base, "--secret", text), exitFailure},
		{"cover not an image", append(base, "--cover", text), exitFailure},
		{"cover too small", append(base, "--cover", small), exitFailure},
		{"key file not a key", append(base, "--key-file", text), exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := veil(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errs)
			}
			oneLine(t, errs)
		})
	}
}
