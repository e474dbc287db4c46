package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRevealFailures(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	other := filepath.Join(dir, "other.key")
	if code, _, errs := veil(t, "keygen", "-o", other); code != exitOK {
		t.Fatal(errs)
	}
	veiled := filepath.Join(dir, "v.png")
	if code, _, errs := veil(t, "hide", "--key-file", key, "--secret", writeSecret(t, dir), "--owner", "o", "-o", veiled); code != exitOK {
		t.Fatal(errs)
	}
	data, _ := os.ReadFile(veiled)
	truncated := filepath.Join(dir, "cut.png")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	clean := writeCover(t, dir, 200, 150)
	out := filepath.Join(dir, "out.png")
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no input", []string{"reveal", "--key-file", key, "-o", out}, exitUsage, "want one"},
		{"no key file", []string{"reveal", "-o", out, veiled}, exitUsage, "--key-file"},
		{"no output", []string{"reveal", "--key-file", key, veiled}, exitUsage, "-o"},
		{"another key", []string{"reveal", "--key-file", other, "-o", out, veiled}, exitFailure, "no payload"},
		{"never veiled", []string{"reveal", "--key-file", key, "-o", out, clean}, exitFailure, "no payload"},
		{"truncated", []string{"reveal", "--key-file", key, "-o", out, truncated}, exitFailure, "truncated"},
		{"missing file", []string{"reveal", "--key-file", key, "-o", out, filepath.Join(dir, "nope")}, exitFailure, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, errs := veil(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errs)
			}
			oneLine(t, errs)
			if !strings.Contains(errs, tc.says) {
				t.Errorf("stderr %q does not say %q", errs, tc.says)
			}
			if stdout != "" {
				t.Errorf("printed %q on failure", stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("wrote a secret on failure")
			}
		})
	}
}

func TestRevealTakesFlagsAfterTheImage(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	veiled := filepath.Join(dir, "v.png")
	if code, _, errs := veil(t, "hide", "--key-file", key, "--secret", writeSecret(t, dir), "--owner", "o", "-o", veiled); code != exitOK {
		t.Fatal(errs)
	}
	out := filepath.Join(dir, "s.png")
	if code, _, errs := veil(t, "reveal", veiled, "--key-file", key, "-o", out); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, %v; want mode 0600", fi, err)
	}
}
