package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"veil/stego"
)

// writeCover writes a generated w×h PNG cover into dir.
func writeCover(t *testing.T, dir string, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, stego.GenerateCover(w, h, 1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cover.png")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCapacityPrintsTheByteCountFirst(t *testing.T) {
	dir := t.TempDir()
	cover := writeCover(t, dir, 640, 480)
	for _, args := range [][]string{{"capacity", cover}, {"capacity", "--key-file", keyFile(t, dir), cover}} {
		code, out, errs := veil(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		n, err := strconv.Atoi(strings.Fields(out)[0])
		if err != nil || n != stego.CapacityOf(640, 480) {
			t.Fatalf("%v: first token of %q, want %d", args, out, stego.CapacityOf(640, 480))
		}
	}
}

func TestCapacityFailures(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("hello"), 0o644)
	cover := writeCover(t, dir, 64, 48)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no cover", []string{"capacity"}, exitUsage},
		{"two covers", []string{"capacity", cover, cover}, exitUsage},
		{"unknown flag", []string{"capacity", "--frobnicate", cover}, exitUsage},
		{"not an image", []string{"capacity", notImage}, exitFailure},
		{"missing file", []string{"capacity", filepath.Join(dir, "nope.png")}, exitFailure},
		{"over the pixel limit", []string{"capacity", "--max-pixels", "1000", cover}, exitFailure},
		{"bad key file", []string{"capacity", "--key-file", notImage, cover}, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := veil(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errs)
			}
			if tc.code == exitFailure {
				oneLine(t, errs)
			}
		})
	}
}

// --stealth compact counts the dense format's room; --secret veils the
// secret at every level and prints a row for each, cheapest first, with the
// veiled size as a multiple of the secret.
func TestCapacityAtEachLevelAndWhatASecretCosts(t *testing.T) {
	dir := t.TempDir()
	cover := writeCover(t, dir, 640, 480)
	code, out, errs := veil(t, "capacity", "--stealth", "compact", cover)
	if n, err := strconv.Atoi(strings.Fields(out)[0]); code != exitOK || err != nil || n <= 3*stego.CapacityOf(640, 480) {
		t.Fatalf("compact: exit %d, %q %s", code, out, errs)
	}
	code, out, errs = veil(t, "capacity", "--secret", cover)
	if code != exitOK {
		t.Fatalf("--secret: exit %d: %s", code, errs)
	}
	var ratios []float64
	for _, l := range stego.Levels {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 3 && f[0] == l.String() {
				r, err := strconv.ParseFloat(f[2], 64)
				if err != nil {
					t.Fatalf("row %q: %v", line, err)
				}
				ratios = append(ratios, r)
			}
		}
	}
	if len(ratios) != 3 || !(ratios[0] < ratios[1] && ratios[1] < ratios[2]) {
		t.Fatalf("ratios %v from:\n%s", ratios, out)
	}
	for _, tc := range [][]string{
		{"capacity", "--secret", cover, cover},
		{"capacity", "--stealth", "loud", cover},
	} {
		if code, _, errs := veil(t, tc...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want usage", tc, code, errs)
		}
	}
}
