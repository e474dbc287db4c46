package main

import (
	"veil/peer"

	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/cluster"
)

func TestUserCommandsAgainstACluster(t *testing.T) {
	c := cluster.NewTestCluster(t, 3, nil)
	c.WaitCoordinator(20 * time.Second)
	t.Setenv("VEIL_API", c.Nodes[1].APIAddr()+","+c.Nodes[2].APIAddr())
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "secret.png")
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 20, 10))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	runAs := func(user, password, cmd string, args ...string) (int, string, string) {
		t.Setenv("VEIL_PASSWORD", password)
		var out, errb bytes.Buffer
		code := run(append([]string{cmd, "--user", user}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if code, _, errs := runAs(u, "password of "+u, "register"); code != exitOK {
			t.Fatalf("register %s: exit %d: %s", u, code, errs)
		}
	}
	veiled := filepath.Join(dir, "veiled.png")
	if code, _, errs := runAs("alice", "password of alice", "put", "--secret", secretPath, "--viewers", "bob=1", "-o", veiled); code != exitOK {
		t.Fatalf("put: exit %d: %s", code, errs)
	}
	out := filepath.Join(dir, "out.png")
	if code, _, errs := runAs("bob", "password of bob", "view", "-o", out, veiled); code != exitOK {
		t.Fatalf("bob's view: exit %d: %s", code, errs)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, b.Bytes()) {
		t.Fatal("bob's view did not write the original byte for byte")
	}
	for _, denied := range []struct{ user, reason string }{{"bob", "no_views_left"}, {"carol", "unknown_image"}} {
		code, _, errs := runAs(denied.user, "password of "+denied.user, "view", "-o", out, veiled)
		if code != exitDenied || !strings.Contains(errs, denied.reason) {
			t.Fatalf("%s's view: exit %d, stderr %q; want exit %d naming %s", denied.user, code, errs, exitDenied, denied.reason)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, peer.DeniedImage()) {
			t.Fatalf("%s's denied view did not write the placeholder image", denied.user)
		}
	}
	if code, stdout, errs := runAs("alice", "password of alice", "images", "-format", "json"); code != exitOK || !strings.Contains(stdout, `"bob": 0`) {
		t.Fatalf("images: exit %d, %q %s", code, stdout, errs)
	}
	if code, _, errs := runAs("alice", "wrong password", "images"); code != exitFailure || !strings.Contains(errs, "bad_credentials") {
		t.Fatalf("wrong password: exit %d, %s", code, errs)
	}
	t.Setenv("VEIL_PASSWORD", "")
	os.Unsetenv("VEIL_PASSWORD")
	var o, e bytes.Buffer
	if code := run([]string{"images", "--user", "alice"}, &o, &e); code != exitUsage || !strings.Contains(e.String(), "VEIL_PASSWORD") {
		t.Fatalf("no password: exit %d, %s", code, e.String())
	}
}
