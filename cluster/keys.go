package cluster

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"veil/internal/certs"
)

// The master key is never used directly on the wire: each use gets its own
// key derived with HKDF-SHA256 and a label, so that knowing one (an admin
// token handed to an operator, say) tells nothing of the others.
const (
	labelGossip    = "veil/gossip/v1"
	labelAdmin     = "veil/admin-token/v1"
	labelInternal  = "veil/internal-token/v1"
	labelUserToken = "veil/user-token/v1"
	labelSeed      = "veil/request-seed/v1"
	labelVouch     = "veil/vouch-ed25519/v1"
)

func derive(master []byte, label string, n int) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, label, n)
	if err != nil {
		// hkdf.Key fails only for lengths over 255·32 bytes.
		panic("cluster: " + err.Error())
	}
	return k
}

// GossipKey is the AES-256 key memberlist encrypts gossip with.
func GossipKey(master []byte) []byte { return derive(master, labelGossip, 32) }

// AdminToken is the bearer token that authorises admin calls such as
// POST /v1/admin/fail. Anyone holding the master key can compute it.
func AdminToken(master []byte) string { return hex.EncodeToString(derive(master, labelAdmin, 32)) }

// VouchKey is the key the cloud signs peers' statements with (package
// vouch). Every node derives the same one, so any node can sign, and a peer
// checks every statement with one public key.
func VouchKey(master []byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(derive(master, labelVouch, ed25519.SeedSize))
}

// internalToken authorises node-to-node calls (work sent by the coordinator).
func internalToken(master []byte) string {
	return hex.EncodeToString(derive(master, labelInternal, 32))
}

// fromPeer checks that a request on a node-to-node route carries the
// cluster's internal token and, when the cluster runs TLS, came over a
// connection whose client showed a node certificate of the cluster's
// authority: a user's client, or a client certificate, gets no further.
func (n *Node) fromPeer(r *http.Request) error {
	if n.cfg.TLS != nil {
		if err := certs.FromNode(r.TLS); err != nil {
			return fmt.Errorf("%w: node-to-node route: %v", ErrUnauthorized, err)
		}
	}
	if !bearerIs(r.Header.Get("Authorization"), n.peerTok) {
		return fmt.Errorf("%w: node-to-node route", ErrUnauthorized)
	}
	return nil
}

// bearerIs reports, in constant time, whether an Authorization header holds
// the given bearer token.
func bearerIs(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return hmac.Equal([]byte(got), []byte(token))
}
