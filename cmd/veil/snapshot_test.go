package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/registry"
)

// masterKeyFile writes a cluster's key as a key file holds it.
func masterKeyFile(t *testing.T, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func registryOf(n *cluster.Node) []byte {
	var b []byte
	n.ReadRegistry(func(s *registry.State) { b = s.Snapshot() })
	return b
}

func TestSnapshotSaveAndRestoreThroughTheCommand(t *testing.T) {
	a := cluster.NewTestCluster(t, 1, nil)
	coord := a.WaitCoordinator(20 * time.Second)
	hash, err := registry.HashPassword(registry.DefaultArgon2, rand.Reader, "a password")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ada", "bo"} {
		if out, err := coord.SubmitForTest(registry.RegisterUser{Name: name, PasswordHash: hash}); err != nil || out.Err != nil {
			t.Fatalf("register %s: %v %v", name, err, out.Err)
		}
	}
	key := masterKeyFile(t, a.Key)
	dir := t.TempDir()
	file := filepath.Join(dir, "registry.veilbak")

	code, out, errs := veil(t, "snapshot", "save", "-o", file, "--api", coord.APIAddr(), "--key-file", key)
	if code != exitOK {
		t.Fatalf("save: exit %d, %s", code, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cluster.CheckBackup(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the file saved does not check: %v", err)
	}
	for _, want := range []string{"at index " + strconv.FormatUint(info.Index, 10), "(2 users, 0 images)", strconv.Itoa(len(b)) + " bytes", "sha256 " + info.Checksum()} {
		if !strings.Contains(out, want) {
			t.Fatalf("save printed %q; want it to say %q", out, want)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup's mode is %v (%v); want 0600", fi.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Fatalf("a save left %v behind", left)
	}

	// Into the cluster it came from, which holds data: refused, unless forced.
	code, _, errs = veil(t, "snapshot", "restore", file, "--api", coord.APIAddr(), "--key-file", key)
	if code != exitFailure || !strings.Contains(errs, "not_empty") || !strings.Contains(errs, "2 users and 0 images") {
		t.Fatalf("a restore into a cluster with data: exit %d, %q", code, errs)
	}
	oneLine(t, errs)

	// A damaged file is refused here, before anything is sent.
	damaged := filepath.Join(dir, "damaged.veilbak")
	d := bytes.Clone(b)
	d[len(d)/2] ^= 1
	if err := os.WriteFile(damaged, d, 0o600); err != nil {
		t.Fatal(err)
	}
	c := cluster.NewTestCluster(t, 1, func(_ int, cfg *cluster.Config) { cfg.Key = a.Key })
	fresh := c.WaitCoordinator(20 * time.Second)
	code, _, errs = veil(t, "snapshot", "restore", "--api", fresh.APIAddr(), "--key-file", key, damaged)
	if code != exitFailure || !strings.Contains(errs, "damaged") || !strings.Contains(errs, "nothing was sent") {
		t.Fatalf("a damaged backup: exit %d, %q", code, errs)
	}

	// Into a new cluster with the same key: the registry saved, byte for byte.
	code, out, errs = veil(t, "snapshot", "restore", file, "--api", fresh.APIAddr(), "--key-file", key)
	if code != exitOK || !strings.Contains(out, "restored the registry of index "+strconv.FormatUint(info.Index, 10)+" (2 users, 0 images)") {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if header := int64(len("VEILBKUP") + 1 + 8 + 8); !bytes.Equal(registryOf(fresh), b[header:header+info.RegistrySize]) {
		t.Fatal("the restored registry is not the one saved")
	}

	code, out, errs = veil(t, "snapshot", "restore", file, "--force", "--api", fresh.APIAddr(), "--admin-token", cluster.AdminToken(a.Key))
	if code != exitOK || !strings.Contains(out, "replaced 2 users and 0 images") {
		t.Fatalf("a forced restore: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestSnapshotUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", []string{"snapshot"}, exitUsage},
		{"an unknown subcommand", []string{"snapshot", "copy"}, exitUsage},
		{"help", []string{"snapshot", "-h"}, exitOK},
		{"save without -o", []string{"snapshot", "save", "--api", "127.0.0.1:1", "--admin-token", "t"}, exitUsage},
		{"save without --api", []string{"snapshot", "save", "-o", "f", "--admin-token", "t"}, exitUsage},
		{"save without a token", []string{"snapshot", "save", "-o", "f", "--api", "127.0.0.1:1"}, exitUsage},
		{"restore without a file", []string{"snapshot", "restore", "--api", "127.0.0.1:1", "--admin-token", "t"}, exitUsage},
		{"restore of two files", []string{"snapshot", "restore", "a", "b", "--api", "127.0.0.1:1", "--admin-token", "t"}, exitUsage},
		{"restore of no such file", []string{"snapshot", "restore", filepath.Join(t.TempDir(), "none"), "--api", "127.0.0.1:1", "--admin-token", "t"}, exitFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VEIL_API", "")
			if code, _, errs := veil(t, tc.args...); code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errs)
			}
		})
	}
}
