package certs

import (
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T) *Authority {
	t.Helper()
	ca, err := NewAuthority(AuthorityRequest{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *Authority, req Request) *Issued {
	t.Helper()
	if req.Now.IsZero() {
		req.Now = t0
	}
	got, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAnAuthorityIsACAThatSignsLeavesOnlyAndReadsBackFromPEM(t *testing.T) {
	ca := newCA(t)
	c := ca.Cert
	if !c.IsCA || !c.MaxPathLenZero || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatalf("the authority's certificate: IsCA %v, MaxPathLenZero %v, key usage %b", c.IsCA, c.MaxPathLenZero, c.KeyUsage)
	}
	if !strings.HasPrefix(c.Subject.CommonName, "Veil CA ") {
		t.Errorf("common name %q", c.Subject.CommonName)
	}
	if got := c.NotAfter.Sub(t0); got != DefaultAuthorityValidity {
		t.Errorf("lifetime %s, want %s", got, DefaultAuthorityValidity)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseAuthority(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Cert.Equal(ca.Cert) {
		t.Fatal("the certificate read back differs")
	}
	// What the authority read back signs verifies against the original.
	leaf := issue(t, back, Request{Kind: KindNode, Name: "node-1"})
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, DNSName: "node-1"}); err != nil {
		t.Fatal(err)
	}
	if other := newCA(t); other.Cert.Subject.CommonName == ca.Cert.Subject.CommonName {
		t.Error("two authorities share a name")
	}
}

func TestParseAuthorityRefusesAKeyOfAnotherCertificateAndALeaf(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	otherKey, _ := other.KeyPEM()
	if _, err := ParseAuthority(ca.CertPEM(), otherKey); err == nil || !strings.Contains(err.Error(), "not the key of") {
		t.Errorf("another authority's key: %v", err)
	}
	leaf := issue(t, ca, Request{Kind: KindNode, Name: "node-1"})
	if _, err := ParseAuthority(leaf.CertPEM, leaf.KeyPEM); err == nil || !strings.Contains(err.Error(), "not a certificate authority") {
		t.Errorf("a node certificate as authority: %v", err)
	}
	if _, err := ParseAuthority([]byte("junk"), otherKey); err == nil {
		t.Error("no certificate: no error")
	}
}

func TestANodeCertificateNamesTheNodeLoopbackAndWhatIsGiven(t *testing.T) {
	ca := newCA(t)
	got := issue(t, ca, Request{Kind: KindNode, Name: "node-1", DNS: []string{"veil.example.org", "*.veil.internal", "localhost"},
		IPs: []net.IP{net.ParseIP("10.0.0.7"), net.ParseIP("127.0.0.1")}}).Cert
	if want := []string{"node-1", "localhost", "veil.example.org", "*.veil.internal"}; !slices.Equal(got.DNSNames, want) {
		t.Errorf("DNS names %q, want %q", got.DNSNames, want)
	}
	var ips []string
	for _, ip := range got.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "10.0.0.7"}; !slices.Equal(ips, want) {
		t.Errorf("IP addresses %q, want %q", ips, want)
	}
	for _, host := range []string{"node-1", "localhost", "veil.example.org", "a.veil.internal", "127.0.0.1", "::1", "10.0.0.7"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := got.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for %v: %v", host, usage, err)
			}
		}
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, DNSName: "10.0.0.8"}); err == nil {
		t.Error("verifies for an address it does not name")
	}
	if !IsNode(got) || got.Subject.CommonName != "node-1" {
		t.Errorf("IsNode %v, common name %q", IsNode(got), got.Subject.CommonName)
	}
	if got.NotAfter.Sub(t0) != DefaultCertValidity {
		t.Errorf("lifetime %s", got.NotAfter.Sub(t0))
	}
}

func TestAClientCertificateCanOnlyAuthenticateAClient(t *testing.T) {
	ca := newCA(t)
	got := issue(t, ca, Request{Kind: KindClient, Name: "alice"}).Cert
	if IsNode(got) {
		t.Error("a client certificate passes for a node's")
	}
	if len(got.DNSNames) > 0 || len(got.IPAddresses) > 0 {
		t.Errorf("a client certificate names hosts: %v %v", got.DNSNames, got.IPAddresses)
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verifies for a server")
	}
}

func TestIssueRefusesWhatCannotBeACertificate(t *testing.T) {
	ca := newCA(t)
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"an empty name", Request{Kind: KindNode}, "name"},
		{"a name with a space", Request{Kind: KindNode, Name: "node 1"}, "name"},
		{"a DNS name that is no host name", Request{Kind: KindNode, Name: "n", DNS: []string{"a b"}}, "not a host name"},
		{"hosts on a client", Request{Kind: KindClient, Name: "alice", DNS: []string{"x.org"}}, "client"},
		{"no kind", Request{Name: "x"}, "unknown kind"},
		{"a negative lifetime", Request{Kind: KindNode, Name: "n", ValidFor: -time.Hour}, "lifetime"},
		{"after the authority expired", Request{Kind: KindNode, Name: "n", Now: t0.Add(DefaultAuthorityValidity + time.Hour)}, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Now.IsZero() {
				tc.req.Now = t0
			}
			if _, err := ca.Issue(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestACertificateNeverOutlastsItsAuthority(t *testing.T) {
	ca, err := NewAuthority(AuthorityRequest{Now: t0, ValidFor: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := issue(t, ca, Request{Kind: KindNode, Name: "node-1"}).Cert
	if !got.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("expires %s, the authority %s", got.NotAfter, ca.Cert.NotAfter)
	}
}

func TestNewIdentityTakesOnlyAValidNodeCertificateOfTheAuthority(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	node := issue(t, ca, Request{Kind: KindNode, Name: "node-1"})
	client := issue(t, ca, Request{Kind: KindClient, Name: "alice"})
	foreign := issue(t, other, Request{Kind: KindNode, Name: "node-1"})
	if _, err := NewIdentity(node.CertPEM, node.KeyPEM, ca.CertPEM(), t0); err != nil {
		t.Fatalf("a node certificate of the authority: %v", err)
	}
	for _, tc := range []struct {
		name      string
		cert, key []byte
		now       time.Time
		want      string
	}{
		{"a client certificate", client.CertPEM, client.KeyPEM, t0, "client certificate"},
		{"another authority's node", foreign.CertPEM, foreign.KeyPEM, t0, "unknown authority"},
		{"an expired certificate", node.CertPEM, node.KeyPEM, t0.Add(DefaultCertValidity + time.Hour), "expired"},
		{"another certificate's key", node.CertPEM, client.KeyPEM, t0, "private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIdentity(tc.cert, tc.key, ca.CertPEM(), tc.now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := NewIdentity(node.CertPEM, node.KeyPEM, []byte("no PEM"), t0); err == nil {
		t.Error("an authority file with no certificate: no error")
	}
	_, err := NewIdentity(client.CertPEM, client.KeyPEM, ca.CertPEM(), t0)
	if !errors.Is(err, ErrNotNode) {
		t.Errorf("a client certificate: %v, want ErrNotNode", err)
	}
}

func pool(ca *Authority) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}
