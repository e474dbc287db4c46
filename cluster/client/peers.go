package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"veil/cluster/api"
	"veil/cluster/vouch"
)

// The discovery service, as a user's peer uses it.

// CloudKey returns the public key that checks the cloud's statements.
func (c *Client) CloudKey(ctx context.Context) (ed25519.PublicKey, error) {
	var out struct {
		Key string `json:"key"`
	}
	if err := c.getJSON(ctx, "/v1/cloud-key", &out); err != nil {
		return nil, err
	}
	return DecodeKey(out.Key)
}

// Vouch asks the cloud to vouch for the device key priv, as the user the
// client logs in as (Config.User): it proves that it holds the key by
// signing vouch.PossessionProof.
func (c *Client) Vouch(ctx context.Context, priv ed25519.PrivateKey) (api.VouchReply, error) {
	var out api.VouchReply
	if c.cfg.User == "" {
		return out, errors.New("client: Vouch needs Config.User")
	}
	at := time.Now().UTC()
	req := api.VouchRequest{
		Key:   EncodeKey(priv.Public().(ed25519.PublicKey)),
		At:    at,
		Proof: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, vouch.PossessionProof(c.cfg.User, at))),
	}
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/peers/vouch", req, false, &out)
}

// Heartbeat registers the device, or renews its presence, with its address
// and the images it offers. Only what changed is written to the registry.
func (c *Client) Heartbeat(ctx context.Context, device string, req api.PeerRequest) (api.PeerReply, error) {
	var out api.PeerReply
	return out, c.sendJSON(ctx, http.MethodPut, "/v1/peers/"+url.PathEscape(device), req, true, &out)
}

// Depart marks the device offline at once (a clean stop).
func (c *Client) Depart(ctx context.Context, device string) error {
	_, _, err := c.do(ctx, http.MethodDelete, "/v1/peers/"+url.PathEscape(device), "", nil, true)
	return err
}

// Online lists the peers online, as the node that answers has them.
func (c *Client) Online(ctx context.Context) ([]api.OnlineReply, error) {
	var out []api.OnlineReply
	return out, c.getJSON(ctx, "/v1/online", &out)
}

// Directory lists the images the logged-in user may see, with the online
// peers that hold a copy of each.
func (c *Client) Directory(ctx context.Context) (api.DirectoryReply, error) {
	var out api.DirectoryReply
	return out, c.getJSON(ctx, "/v1/directory", &out)
}

func (c *Client) sendJSON(ctx context.Context, method, path string, in any, write bool, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, _, err := c.do(ctx, method, path, "application/json", body, write)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("client: %s: reply is not the JSON expected: %w", path, err)
	}
	return nil
}

// EncodeKey writes a public key as the API carries it.
func EncodeKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// DecodeKey reads a public key as the API carries it.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("client: %.60q is not a base64 Ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}

// TakeLease leases views of the image whose veiled PNG is veiled to the
// device whose statement is given, for use with no cloud: the registry
// moves them from the caller's online views. The reply holds the cloud's
// lease and the original, sealed to the device's key.
func (c *Client) TakeLease(ctx context.Context, veiled []byte, statement string, views int) (api.LeaseReply, error) {
	var out api.LeaseReply
	ctx = withHeader(ctx, "Veil-Device", statement)
	resp, _, err := c.do(ctx, http.MethodPost, "/v1/leases?views="+strconv.Itoa(views), "image/png", veiled, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return out, fmt.Errorf("client: /v1/leases: reply is not the JSON expected: %w", err)
	}
	return out, nil
}

// ReturnLease reports the views a device spent of a lease, signed with the
// device's key; the unspent come back to the caller's online views unless
// the lease was revoked.
func (c *Client) ReturnLease(ctx context.Context, id string, req api.ReturnRequest) (api.ReturnReply, error) {
	var out api.ReturnReply
	return out, c.sendJSON(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/return", req, true, &out)
}
