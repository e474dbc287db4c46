package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"veil/internal/certs"
)

func TestTLSMakesAnAuthorityAndNodeAndClientCertificatesItSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if code, _, errs := veil(t, "tls", "ca", "create", "--dir", dir); code != exitOK {
		t.Fatalf("ca create: exit %d: %s", code, errs)
	}
	code, out, errs := veil(t, "tls", "cert", "create", "--dir", dir, "--node", "node-1", "--dns", "veil.example.org", "--ip", "10.0.0.7,10.0.0.8")
	if code != exitOK {
		t.Fatalf("cert create --node: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "veil.example.org") || !strings.Contains(out, "10.0.0.8") {
		t.Errorf("the names are not listed:\n%s", out)
	}
	if code, _, errs := veil(t, "tls", "cert", "create", "--dir", dir, "--client", "alice"); code != exitOK {
		t.Fatalf("cert create --client: exit %d: %s", code, errs)
	}
	// Keys are 0600; certificates are public (0644, less the umask).
	for _, name := range []string{"veil-ca", "node-node-1", "client-alice"} {
		for file, want := range map[string]os.FileMode{name + ".pem": 0o644, name + "-key.pem": 0o600} {
			fi, err := os.Stat(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got&^want != 0 || got&0o600 != 0o600 {
				t.Errorf("%s: mode %v, want %v", file, got, want)
			}
		}
	}
	// The node's files make an identity of the authority, as veil node
	// will load them.
	id, err := certs.LoadIdentity(filepath.Join(dir, "node-node-1.pem"), filepath.Join(dir, "node-node-1-key.pem"), filepath.Join(dir, "veil-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Name() != "node-1" {
		t.Errorf("node certificate named %q", id.Name())
	}
	node := readCert(t, filepath.Join(dir, "node-node-1.pem"))
	for _, want := range []string{"node-1", "localhost", "veil.example.org"} {
		if !slices.Contains(node.DNSNames, want) {
			t.Errorf("node certificate's DNS names %q lack %q", node.DNSNames, want)
		}
	}
	if len(node.IPAddresses) != 4 {
		t.Errorf("node certificate's addresses %v: want the two loopbacks and the two given", node.IPAddresses)
	}
	client := readCert(t, filepath.Join(dir, "client-alice.pem"))
	if certs.IsNode(client) {
		t.Error("the client certificate passes for a node's")
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "client-alice.pem"), filepath.Join(dir, "client-alice-key.pem")); err != nil {
		t.Error(err)
	}
	if _, err := certs.ClientConfig(filepath.Join(dir, "veil-ca.pem"), filepath.Join(dir, "client-alice.pem"), filepath.Join(dir, "client-alice-key.pem")); err != nil {
		t.Error(err)
	}
}

func TestTLSNeverReplacesAFileWithoutForce(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := veil(t, "tls", "ca", "create", "--dir", dir); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "veil-ca-key.pem"))
	code, _, errs := veil(t, "tls", "ca", "create", "--dir", dir)
	if code != exitFailure || !strings.Contains(errs, "exists") || !strings.Contains(errs, "--force") {
		t.Fatalf("a second ca create: exit %d, %q", code, errs)
	}
	oneLine(t, errs)
	if after, _ := os.ReadFile(filepath.Join(dir, "veil-ca-key.pem")); string(after) != string(before) {
		t.Fatal("the authority's key changed")
	}
	if code, _, errs := veil(t, "tls", "cert", "create", "--dir", dir, "--node", "n1"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, _, errs := veil(t, "tls", "cert", "create", "--dir", dir, "--node", "n1"); code != exitFailure || !strings.Contains(errs, "exists") {
		t.Fatalf("a second cert create: exit %d, %q", code, errs)
	}
	if code, _, errs := veil(t, "tls", "cert", "create", "--dir", dir, "--node", "n1", "--force"); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, errs)
	}
	if code, _, errs := veil(t, "tls", "ca", "create", "--dir", dir, "--force"); code != exitOK {
		t.Fatalf("ca create --force: exit %d: %s", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "veil-ca-key.pem")); string(after) == string(before) {
		t.Fatal("--force kept the old key")
	}
}

func TestTLSUsageErrors(t *testing.T) {
	dir := t.TempDir()
	veil(t, "tls", "ca", "create", "--dir", dir)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"tls"}, exitUsage, "usage"},
		{"neither --node nor --client", []string{"tls", "cert", "create", "--dir", dir}, exitUsage, "--node NAME or --client NAME"},
		{"both", []string{"tls", "cert", "create", "--dir", dir, "--node", "a", "--client", "b"}, exitUsage, "--node NAME or --client NAME"},
		{"names on a client", []string{"tls", "cert", "create", "--dir", dir, "--client", "b", "--dns", "x.org"}, exitUsage, "serves nothing"},
		{"a bad address", []string{"tls", "cert", "create", "--dir", dir, "--node", "a", "--ip", "10.0.0"}, exitUsage, "not an IP address"},
		{"a bad name", []string{"tls", "cert", "create", "--dir", dir, "--node", "a b"}, exitFailure, "name"},
		{"no authority", []string{"tls", "cert", "create", "--dir", t.TempDir(), "--node", "a"}, exitFailure, "veil tls ca create"},
		{"zero days", []string{"tls", "ca", "create", "--dir", t.TempDir(), "--days", "0"}, exitUsage, "--days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := veil(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, errs, tc.code, tc.want)
			}
		})
	}
}

func TestTLSCertificateLifetimes(t *testing.T) {
	dir := t.TempDir()
	veil(t, "tls", "ca", "create", "--dir", dir, "--days", "30")
	veil(t, "tls", "cert", "create", "--dir", dir, "--client", "op", "--days", "400")
	ca, c := readCert(t, filepath.Join(dir, "veil-ca.pem")), readCert(t, filepath.Join(dir, "client-op.pem"))
	if d := time.Until(ca.NotAfter); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("the authority lasts %s, want 30 days", d)
	}
	if !c.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("the certificate ends %s, after its authority (%s)", c.NotAfter, ca.NotAfter)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
