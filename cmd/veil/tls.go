package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"veil/internal/certs"
)

var tlsCommand = command{
	name:    "tls",
	summary: "make the cluster's certificate authority and its nodes' and clients' certificates",
	run:     runTLS,
}

const tlsUsage = `usage:
  veil tls ca create [--dir D] [--days N] [--force]
  veil tls cert create --node NAME [--dns NAME[,NAME...]] [--ip ADDR[,ADDR...]] [--dir D] [--days N] [--force]
  veil tls cert create --client NAME [--dir D] [--days N] [--force]

The cluster is its own certificate authority: 'ca create' writes its
certificate (veil-ca.pem, given to every node as --tls-ca and to every client
as --ca) and its key (veil-ca-key.pem, mode 0600: keep it off the nodes).
'cert create' signs with it a node's certificate (node-NAME.pem and
node-NAME-key.pem, for --tls-cert and --tls-key; it serves the API and
authenticates the node to the others, and names NAME, localhost, the loopback
addresses and every --dns and --ip given: the names and addresses users reach
the node at) or a client's (client-NAME.pem and client-NAME-key.pem, for an
operator's tools or a user's peer). Nothing is overwritten without --force.
`

func runTLS(args []string, stdout, stderr io.Writer) int {
	if len(args) >= 2 && args[1] == "create" {
		switch args[0] {
		case "ca":
			return runTLSCACreate(args[2:], stdout, stderr)
		case "cert":
			return runTLSCertCreate(args[2:], stdout, stderr)
		}
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, tlsUsage)
		return exitOK
	}
	fmt.Fprint(stderr, tlsUsage)
	return exitUsage
}

// The files veil tls writes, in --dir.
const (
	caCertFile = "veil-ca.pem"
	caKeyFile  = "veil-ca-key.pem"
)

func runTLSCACreate(args []string, stdout, stderr io.Writer) int {
	const name = "tls ca create"
	fl := newFlags(name, "[--dir D] [--days N] [--force]", stderr)
	dir := fl.String("dir", ".", "directory to write "+caCertFile+" and "+caKeyFile+" to")
	days := fl.Int("days", int(certs.DefaultAuthorityValidity/(24*time.Hour)), "days the authority is valid")
	force := fl.Bool("force", false, "replace the files if they exist (every certificate it signed stops being trusted)")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, name, err)
	}
	if fl.NArg() > 0 {
		return fail(stderr, name, usagef("unexpected argument %q", fl.Arg(0)))
	}
	if *days < 1 {
		return fail(stderr, name, usagef("--days %d: want at least 1", *days))
	}
	certPath, keyPath := filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile)
	if err := refuseOverwrite(*force, certPath, keyPath); err != nil {
		return fail(stderr, name, err)
	}
	ca, err := certs.NewAuthority(certs.AuthorityRequest{ValidFor: time.Duration(*days) * 24 * time.Hour, Now: time.Now()})
	if err != nil {
		return fail(stderr, name, err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return fail(stderr, name, err)
	}
	if err := writePair(*dir, certPath, ca.CertPEM(), keyPath, keyPEM, *force); err != nil {
		return fail(stderr, name, err)
	}
	fmt.Fprintf(stdout, "%s: %q, valid until %s\n%s: its key (mode 0600; keep it off the nodes)\n",
		certPath, ca.Cert.Subject.CommonName, ca.Cert.NotAfter.Format(time.DateOnly), keyPath)
	return exitOK
}

func runTLSCertCreate(args []string, stdout, stderr io.Writer) int {
	const name = "tls cert create"
	fl := newFlags(name, "--node NAME [--dns NAME,...] [--ip ADDR,...] | --client NAME [--dir D] [--days N] [--force]", stderr)
	node := fl.String("node", "", "make a node's certificate (server and client) for the node of this name")
	clientName := fl.String("client", "", "make a client's certificate (an operator's or a peer's) for this name")
	var dns, ips listFlag
	fl.Var(&dns, "dns", "more DNS names the node is reached at (comma separated, or repeated)")
	fl.Var(&ips, "ip", "more IP addresses the node is reached at, e.g. its --advertise address (comma separated, or repeated)")
	dir := fl.String("dir", ".", "directory to write the certificate and its key to")
	caFile := fl.String("ca", "", "the authority's certificate (default DIR/"+caCertFile+")")
	caKey := fl.String("ca-key", "", "the authority's key (default DIR/"+caKeyFile+")")
	days := fl.Int("days", int(certs.DefaultCertValidity/(24*time.Hour)), "days the certificate is valid (never past the authority's end)")
	force := fl.Bool("force", false, "replace the files if they exist")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, name, err)
	}
	if fl.NArg() > 0 {
		return fail(stderr, name, usagef("unexpected argument %q", fl.Arg(0)))
	}
	req := certs.Request{ValidFor: time.Duration(*days) * 24 * time.Hour, Now: time.Now()}
	switch {
	case (*node == "") == (*clientName == ""):
		return fail(stderr, name, usagef("give --node NAME or --client NAME"))
	case *node != "":
		req.Kind, req.Name = certs.KindNode, *node
	default:
		req.Kind, req.Name = certs.KindClient, *clientName
		if len(dns) > 0 || len(ips) > 0 {
			return fail(stderr, name, usagef("--dns and --ip are for a node's certificate: a client's serves nothing"))
		}
	}
	if *days < 1 {
		return fail(stderr, name, usagef("--days %d: want at least 1", *days))
	}
	req.DNS = dns
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fail(stderr, name, usagef("--ip %q is not an IP address", s))
		}
		req.IPs = append(req.IPs, ip)
	}
	if *caFile == "" {
		*caFile = filepath.Join(*dir, caCertFile)
	}
	if *caKey == "" {
		*caKey = filepath.Join(*dir, caKeyFile)
	}
	ca, err := loadAuthority(*caFile, *caKey)
	if err != nil {
		return fail(stderr, name, err)
	}
	base := filepath.Join(*dir, req.Kind.String()+"-"+req.Name)
	certPath, keyPath := base+".pem", base+"-key.pem"
	if err := refuseOverwrite(*force, certPath, keyPath); err != nil {
		return fail(stderr, name, err)
	}
	issued, err := ca.Issue(req)
	if err != nil {
		return fail(stderr, name, err)
	}
	if err := writePair(*dir, certPath, issued.CertPEM, keyPath, issued.KeyPEM, *force); err != nil {
		return fail(stderr, name, err)
	}
	c := issued.Cert
	fmt.Fprintf(stdout, "%s: %s certificate %q, signed by %q, valid until %s\n", certPath, req.Kind, c.Subject.CommonName,
		ca.Cert.Subject.CommonName, c.NotAfter.Format(time.DateOnly))
	if req.Kind == certs.KindNode {
		names := append([]string(nil), c.DNSNames...)
		for _, ip := range c.IPAddresses {
			names = append(names, ip.String())
		}
		fmt.Fprintf(stdout, "  names: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(stdout, "%s: its key (mode 0600)\n", keyPath)
	return exitOK
}

func loadAuthority(certPath, keyPath string) (*certs.Authority, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("the authority's certificate: %w (make one with 'veil tls ca create', or give --ca)", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("the authority's key: %w (give --ca-key)", err)
	}
	return certs.ParseAuthority(certPEM, keyPEM)
}

// refuseOverwrite fails if any of the paths exists, unless force.
func refuseOverwrite(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists (use --force to replace it)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writePair writes a certificate (mode 0644) and its key (mode 0600, by
// writeKeyFile, which never replaces a file without force) into dir,
// which is made (0700) if missing.
func writePair(dir, certPath string, certPEM []byte, keyPath string, keyPEM []byte, force bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeKeyFile(keyPath, keyPEM, force); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(certPath, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(certPEM); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listFlag is a flag given as a comma-separated list, or several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// cloudTLS are the flags of a command that talks to a cluster's API: the
// authority its nodes' certificates come from (--ca, or VEIL_CA), and a
// client certificate for a cluster that requires one.
type cloudTLS struct{ ca, cert, key *string }

func addCloudTLSFlags(fl *flag.FlagSet) cloudTLS {
	return cloudTLS{
		ca:   fl.String("ca", "", "the cluster's certificate authority (PEM, veil-ca.pem): the only one trusted for the nodes' certificates; https:// then goes without saying in --api"),
		cert: fl.String("client-cert", "", "a client certificate of the cluster's authority ('veil tls cert create --client'), for a cluster that requires one"),
		key:  fl.String("client-key", "", "the client certificate's key"),
	}
}

// config is the TLS configuration the flags ask for; nil when they ask
// for none (plain http, or https checked against the system's roots).
func (c cloudTLS) config() (*tls.Config, error) {
	if *c.ca == "" {
		if *c.cert != "" || *c.key != "" {
			return nil, usagef("--client-cert and --client-key need --ca: the cluster's authority checks the nodes")
		}
		return nil, nil
	}
	return certs.ClientConfig(*c.ca, *c.cert, *c.key)
}
