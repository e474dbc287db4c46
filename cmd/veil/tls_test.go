package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// Three veil node processes with certificates from veil tls serve the CLI
// over HTTPS: a command with the cluster's authority (--ca, or VEIL_CA)
// registers, puts and views, one without it is refused.
func TestTLSClusterOfProcessesServesTheCLIWithItsAuthority(t *testing.T) {
	bin := buildVeil(t)
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errs := veil(t, args...)
		if code != exitOK {
			t.Fatalf("veil %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	mustRun("tls", "ca", "create", "--dir", tlsDir)
	mustRun("keygen", "-o", filepath.Join(dir, "master.key"))
	ca := filepath.Join(tlsDir, "veil-ca.pem")

	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	var gossip, apis []string
	for range 3 {
		gossip, apis = append(gossip, port()), append(apis, port())
	}
	// The nodes get no VEIL_* variable of the test's.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VEIL_") {
			env = append(env, kv)
		}
	}
	for i := range 3 {
		name := "node-" + strconv.Itoa(i+1)
		mustRun("tls", "cert", "create", "--dir", tlsDir, "--node", name)
		args := []string{"node", "--name", name, "--key-file", filepath.Join(dir, "master.key"),
			"--gossip", gossip[i], "--api", apis[i], "--data-dir", filepath.Join(dir, name), "--profile", "fast",
			"--tls-cert", filepath.Join(tlsDir, "node-"+name+".pem"), "--tls-key", filepath.Join(tlsDir, "node-"+name+"-key.pem"), "--tls-ca", ca}
		if i > 0 {
			args = append(args, "--join", gossip[0])
		}
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("---- %s\n%s", name, b)
			}
		})
	}

	// Wait for the three to agree, as an operator would watch it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, _ := veil(t, "members", "--api", apis[0], "--ca", ca, "-format", "json")
		if code == exitOK && strings.Count(out, `"state": "active"`) == 3 && strings.Contains(out, `"coordinator"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not agree within 60 s; last: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	secret := filepath.Join(dir, "secret.png")
	writeNoisePNG(t, secret)
	as := func(user, cmd string, args ...string) (int, string, string) {
		t.Setenv("VEIL_PASSWORD", "password of "+user)
		return veil(t, append([]string{cmd, "--user", user}, args...)...)
	}
	// https:// given, or not: the authority says it is TLS.
	for _, u := range []string{"alice", "bob"} {
		if code, _, errs := as(u, "register", "--api", "https://"+apis[1], "--ca", ca); code != exitOK {
			t.Fatalf("register %s: exit %d: %s", u, code, errs)
		}
	}
	veiled := filepath.Join(dir, "veiled.png")
	if code, _, errs := as("alice", "put", "--api", apis[2], "--ca", ca, "--secret", secret, "--viewers", "bob=1", "-o", veiled); code != exitOK {
		t.Fatalf("put: exit %d: %s", code, errs)
	}
	t.Setenv("VEIL_CA", ca)
	out := filepath.Join(dir, "out.png")
	if code, _, errs := as("bob", "view", "--api", apis[0], "-o", out, veiled); code != exitOK {
		t.Fatalf("view with VEIL_CA: exit %d: %s", code, errs)
	}
	if got, want := readFile(t, out), readFile(t, secret); !bytes.Equal(got, want) {
		t.Fatal("the view did not give the original back byte for byte")
	}
	os.Unsetenv("VEIL_CA")

	// Without the authority: refused at the handshake, whatever the scheme.
	for _, api := range []string{"https://" + apis[0], apis[0]} {
		code, _, errs := veil(t, "members", "--api", api, "--timeout", "3s")
		if code == exitOK {
			t.Fatalf("members --api %s without --ca: answered", api)
		}
		oneLine(t, errs)
	}
}

// A node without TLS will not listen beyond loopback, and says what to do.
func TestTLSNodeRefusesToServeBeyondLoopbackInClear(t *testing.T) {
	dir := t.TempDir()
	veil(t, "keygen", "-o", filepath.Join(dir, "k"))
	code, _, errs := veil(t, "node", "--name", "n1", "--key-file", filepath.Join(dir, "k"), "--data-dir", filepath.Join(dir, "d"),
		"--gossip", "127.0.0.1:0", "--api", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(errs, "--tls-cert") || !strings.Contains(errs, "--insecure-http") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	code, _, errs = veil(t, "node", "--name", "n1", "--key-file", filepath.Join(dir, "k"), "--data-dir", filepath.Join(dir, "d"),
		"--tls-cert", filepath.Join(dir, "x.pem"))
	if code != exitUsage || !strings.Contains(errs, "--tls-key") {
		t.Fatalf("half the TLS flags: exit %d, stderr %q", code, errs)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
