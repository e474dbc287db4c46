package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// The TLS configurations of a cluster. Every one sets TLS 1.3 as the least
// version, and HTTP/1.1 as the only application protocol: the node's
// clients keep connections of their own for replication apart from image
// work, which HTTP/2 would multiplex onto one.

// ErrNotNode is the error of a connection whose peer did not show a node
// certificate of the cluster's authority where one is required.
var ErrNotNode = errors.New("certs: the peer presented no node certificate of the cluster's authority")

// Identity is a node's TLS identity: its certificate and key, and the
// cluster's authority, the only one it trusts.
type Identity struct {
	cert  tls.Certificate
	leaf  *x509.Certificate
	roots *x509.CertPool
}

// LoadIdentity reads a node's certificate, key and the cluster's authority
// from PEM files (veil node --tls-cert, --tls-key, --tls-ca) and checks
// them as NewIdentity does.
func LoadIdentity(certFile, keyFile, caFile string) (*Identity, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: node certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: node key: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: authority certificate: %w", err)
	}
	id, err := NewIdentity(certPEM, keyPEM, caPEM, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, certFile)
	}
	return id, nil
}

// NewIdentity checks that the certificate and the key belong together, and
// that the certificate is a node certificate of the authority in caPEM,
// valid at now: a node that would be refused by every other one says so at
// its start.
func NewIdentity(certPEM, keyPEM, caPEM []byte, now time.Time) (*Identity, error) {
	roots, err := ParsePool(caPEM)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: node certificate and key: %w", err)
	}
	leaf := cert.Leaf
	var rest []*x509.Certificate
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certs: node certificate chain: %w", err)
		}
		rest = append(rest, c)
	}
	if err := verifyNode(leaf, rest, roots, now); err != nil {
		return nil, err
	}
	return &Identity{cert: cert, leaf: leaf, roots: roots}, nil
}

// Name is the common name of the node's certificate.
func (id *Identity) Name() string { return id.leaf.Subject.CommonName }

// NotAfter is when the node's certificate expires.
func (id *Identity) NotAfter() time.Time { return id.leaf.NotAfter }

// ServerConfig is the API's: the node's certificate for every client, and
// a client certificate verified against the cluster's authority when one is
// given (the node routes then tell nodes from users with FromNode), or
// required of every client when requireClientCert is set.
func (id *Identity) ServerConfig(requireClientCert bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		ClientCAs:    id.roots,
		ClientAuth:   auth,
		NextProtos:   []string{"http/1.1"},
	}
}

// PeerClientConfig is for calls to other nodes: it presents the node's
// certificate, and takes the other end for a node when it shows a node
// certificate of the cluster's authority, whatever address it was dialled
// at (gossip advertises addresses, which certificates need not name).
func (id *Identity) PeerClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is checked by VerifyConnection below, against the
		// cluster's authority only; the host name is not.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrNotNode
			}
			return verifyNode(cs.PeerCertificates[0], cs.PeerCertificates[1:], id.roots, time.Now())
		},
		// Always present the certificate, whatever authorities the
		// other end names: one of another cluster then refuses it
		// outright, rather than going on without it.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &id.cert, nil },
		NextProtos:           []string{"http/1.1"},
	}
}

// PeerServerConfig is for a listener only nodes may use (Raft's
// transport): a node certificate of the cluster's authority is required.
func (id *Identity) PeerServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		ClientCAs:    id.roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || !IsNode(cs.VerifiedChains[0][0]) {
				return ErrNotNode
			}
			return nil
		},
	}
}

// FromNode reports whether a connection's peer presented a node
// certificate of the cluster's authority: cs is an http.Request's TLS,
// from a server whose configuration came from ServerConfig (which verifies
// any client certificate given against the authority).
func FromNode(cs *tls.ConnectionState) error {
	if cs == nil || len(cs.VerifiedChains) == 0 || !IsNode(cs.VerifiedChains[0][0]) {
		return ErrNotNode
	}
	return nil
}

// verifyNode checks that leaf is a node certificate of the authority in
// roots, valid at now.
func verifyNode(leaf *x509.Certificate, rest []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrNotNode, leaf.Subject.CommonName, err)
	}
	if !IsNode(leaf) {
		return fmt.Errorf("%w: %q is a %v certificate", ErrNotNode, leaf.Subject.CommonName, ouOf(leaf))
	}
	return nil
}

func ouOf(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 0 {
		return "foreign"
	}
	return c.Subject.OrganizationalUnit[0]
}

// ParsePool reads the authorities a client trusts from PEM (a CA file): at
// least one certificate.
func ParsePool(caPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("certs: no PEM certificate in the authority file")
	}
	return pool, nil
}

// ClientConfig is a user's client's: it trusts the authorities in caFile
// only (veil --ca), and, when certFile and keyFile are given, presents that
// client certificate (for a cluster that requires one).
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	roots, err := ParsePool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, caFile)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("certs: a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certs: client certificate: %w", err)
		}
		// Presented whatever authorities the server names, as for a
		// node: a wrong certificate is refused, not silently left out.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return c, nil
}
