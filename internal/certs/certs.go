package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"slices"
	"time"
)

// Default lifetimes, as Consul's `tls ca create` and `tls cert create`
// give them: an authority lasts five years, what it issues one.
const (
	DefaultAuthorityValidity = 5 * 365 * 24 * time.Hour
	DefaultCertValidity      = 365 * 24 * time.Hour
)

// Kind is what a certificate is for.
type Kind int

const (
	// KindNode is a node's certificate: it serves the API and presents
	// itself to other nodes (server and client authentication).
	KindNode Kind = iota + 1
	// KindClient is an operator's or a peer's: client authentication only.
	KindClient
)

func (k Kind) String() string {
	switch k {
	case KindNode:
		return "node"
	case KindClient:
		return "client"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Organization is the O of every subject the package writes; the OU is the
// Kind ("node" or "client").
const Organization = "Veil"

// Authority is a cluster's certificate authority: it signs the node and
// client certificates, and its certificate is what every party trusts.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// AuthorityRequest says which authority to make.
type AuthorityRequest struct {
	// Name goes into the subject's common name, after "Veil CA"; empty
	// gives the serial number's first digits, so that two clusters'
	// authorities have different names.
	Name string
	// ValidFor is the authority's lifetime; zero gives
	// DefaultAuthorityValidity.
	ValidFor time.Duration
	// Now is when the authority becomes valid (less a minute, for clocks
	// a little behind).
	Now time.Time
}

// NewAuthority makes a new key and a self-signed CA certificate that may
// sign leaf certificates only (path length zero).
func NewAuthority(req AuthorityRequest) (*Authority, error) {
	if req.ValidFor == 0 {
		req.ValidFor = DefaultAuthorityValidity
	}
	if req.ValidFor < 0 {
		return nil, fmt.Errorf("certs: authority lifetime %s: want a positive duration", req.ValidFor)
	}
	if req.Now.IsZero() {
		return nil, errors.New("certs: no time given for the authority's start")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: authority key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = hex.EncodeToString(serial.Bytes()[:4])
	}
	ski, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Veil CA " + name, Organization: []string{Organization}},
		NotBefore:             req.Now.Add(-time.Minute),
		NotAfter:              req.Now.Add(req.ValidFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: authority certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// ParseAuthority reads an authority from its certificate and key in PEM,
// and checks that they belong together and that the certificate is a CA.
func ParseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: authority certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certs: %q is not a certificate authority", cert.Subject.CommonName)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: authority key: %w", err)
	}
	if !samePublic(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("certs: the key is not the key of %q", cert.Subject.CommonName)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// CertPEM is the authority's certificate in PEM: what every node and client
// is given to trust (--tls-ca, --ca).
func (a *Authority) CertPEM() []byte { return certPEM(a.Cert.Raw) }

// KeyPEM is the authority's private key in PEM (PKCS #8).
func (a *Authority) KeyPEM() ([]byte, error) { return keyPEM(a.Key) }

// Request says which certificate to issue.
type Request struct {
	Kind Kind
	// Name is the node's or the client's name: the subject's common
	// name, and for a node one of its DNS names.
	Name string
	// DNS and IPs are more names a node is reached at, beside its name,
	// localhost and the loopback addresses, which every node certificate
	// holds. A client certificate takes none.
	DNS []string
	IPs []net.IP
	// ValidFor is the certificate's lifetime, DefaultCertValidity when
	// zero; it never outlasts the authority.
	ValidFor time.Duration
	// Now is when the certificate becomes valid (less a minute).
	Now time.Time
}

// Issued is a certificate the authority signed, with its new key.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	// dnsRE is a host name as a DNS SAN holds it: labels of letters,
	// digits and '-', or a leading "*." for a wildcard.
	dnsRE = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// Issue makes a key and a certificate of the given kind, signed by a.
func (a *Authority) Issue(req Request) (*Issued, error) {
	if !nameRE.MatchString(req.Name) {
		return nil, fmt.Errorf("certs: name %q: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", req.Name)
	}
	if req.Now.IsZero() {
		return nil, errors.New("certs: no time given for the certificate's start")
	}
	if req.ValidFor == 0 {
		req.ValidFor = DefaultCertValidity
	}
	if req.ValidFor < 0 {
		return nil, fmt.Errorf("certs: lifetime %s: want a positive duration", req.ValidFor)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: req.Name, Organization: []string{Organization}, OrganizationalUnit: []string{req.Kind.String()}},
		NotBefore: req.Now.Add(-time.Minute),
		NotAfter:  req.Now.Add(req.ValidFor),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	if tmpl.NotAfter.After(a.Cert.NotAfter) {
		tmpl.NotAfter = a.Cert.NotAfter
	}
	if !tmpl.NotAfter.After(req.Now) {
		return nil, fmt.Errorf("certs: the authority %q expired on %s: make a new one", a.Cert.Subject.CommonName, a.Cert.NotAfter.Format(time.DateOnly))
	}
	switch req.Kind {
	case KindNode:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		dns := []string{"localhost"}
		if dnsRE.MatchString(req.Name) {
			dns = append([]string{req.Name}, dns...)
		}
		for _, d := range req.DNS {
			if !dnsRE.MatchString(d) {
				return nil, fmt.Errorf("certs: DNS name %q is not a host name", d)
			}
			if !slices.Contains(dns, d) {
				dns = append(dns, d)
			}
		}
		tmpl.DNSNames = dns
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
		for _, ip := range req.IPs {
			if ip == nil {
				return nil, errors.New("certs: an empty IP address")
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		}
	case KindClient:
		if len(req.DNS) > 0 || len(req.IPs) > 0 {
			return nil, errors.New("certs: a client certificate takes no DNS names or IP addresses: it serves nothing")
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("certs: unknown kind %d", int(req.Kind))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	if tmpl.SubjectKeyId, err = keyID(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: signing the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, CertPEM: certPEM(der), KeyPEM: kp}, nil
}

// IsNode reports whether c is a node certificate: issued for a node (its
// OU) and usable to serve. A client certificate of the same authority is
// not one, so that an operator's or a peer's certificate cannot call the
// routes between nodes.
func IsNode(c *x509.Certificate) bool {
	return slices.Contains(c.Subject.OrganizationalUnit, KindNode.String()) &&
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
}

// newSerial is a random 128-bit serial number, as CAs give them.
func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

// keyID is a subject key identifier: a hash of the public key.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCert reads the first certificate of a PEM file.
func parseCert(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// parseKey reads a private key in PEM: PKCS #8, or SEC 1 for EC keys.
func parseKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("a %T cannot sign", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		}
	}
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
