package peer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"veil/cluster/vouch"
)

// identityFile holds the device's private key, PKCS #8 in PEM, mode 0600.
const identityFile = "device.key"

// Identity is a device's key pair. Its public half is what the cloud
// vouches for; the device id is derived from it (vouch.DeviceID).
type Identity struct {
	Key ed25519.PrivateKey
}

// Public returns the device's public key.
func (id Identity) Public() ed25519.PublicKey { return id.Key.Public().(ed25519.PublicKey) }

// Device returns the device id the cloud knows the key by.
func (id Identity) Device() string { return vouch.DeviceID(id.Public()) }

// LoadIdentity reads the device key from dir, making one on first start.
// A key file that other users can read is refused: whoever holds the key
// can pass as this device until its statement expires.
func LoadIdentity(dir string) (Identity, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newIdentity(path)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("peer: device key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return Identity{}, fmt.Errorf("peer: device key %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return parseIdentity(b)
}

func parseIdentity(b []byte) (Identity, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return Identity{}, errors.New("peer: device key: not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return Identity{}, fmt.Errorf("peer: device key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Identity{}, fmt.Errorf("peer: device key: %T, want an Ed25519 key", k)
	}
	return Identity{Key: priv}, nil
}

func newIdentity(path string) (Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Identity{}, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return Identity{}, fmt.Errorf("peer: device key: %w", err)
	}
	return Identity{Key: priv}, nil
}

// certificate is a self-signed TLS certificate for the device key. Nothing
// in it but the key is trusted: a peer checks the key against the cloud's
// statement for the device, not the certificate's names or dates.
func (id Identity) certificate() (tls.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: id.Device()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.Public(), id.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.Key}, nil
}

// writeFileAtomic writes b to path so that a reader sees either the old
// file or the whole new one: a temporary file in the same directory,
// synced, then renamed over path, then the directory synced.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename; cleans up on error
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
