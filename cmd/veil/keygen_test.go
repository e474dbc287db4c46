package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/stego"
)

// veil runs the command line in-process and returns status, stdout, stderr.
func veil(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// oneLine checks the failure message rule: one line on stderr.
func oneLine(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Fatalf("stderr is not one line: %q", stderr)
	}
}

func TestKeygenWritesAPrivateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	code, out, errs := veil(t, "keygen", "-o", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	key, err := stego.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, key.ID()) {
		t.Errorf("stdout %q does not name the key id %s", out, key.ID())
	}
}

func TestKeygenNeverOverwritesAKeyUnlessForced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if code, _, errs := veil(t, "keygen", "-o", path); code != exitOK {
		t.Fatal(errs)
	}
	before, _ := os.ReadFile(path)
	code, _, errs := veil(t, "keygen", "-o", path)
	if code != exitFailure {
		t.Fatalf("second keygen: exit %d, want %d", code, exitFailure)
	}
	oneLine(t, errs)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the key was overwritten")
	}
	if code, _, errs := veil(t, "keygen", "--force", "-o", path); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, errs)
	}
	if after, _ := os.ReadFile(path); bytes.Equal(before, after) {
		t.Fatal("--force did not write a new key")
	}
}

func TestKeygenWithoutOutputIsAUsageError(t *testing.T) {
	code, _, errs := veil(t, "keygen")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	oneLine(t, errs)
}
