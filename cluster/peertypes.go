package cluster

import "time"

// The bodies of the discovery routes (peers.go). Keys are Ed25519 public
// keys in standard base64; digests are SHA-256 in hex.

// VouchRequest is the body of POST /v1/peers/vouch: a device key, and the
// proof that the caller holds its private half (a signature over
// vouch.PossessionProof of the caller's name and At).
type VouchRequest struct {
	Key   string    `json:"key"`   // the device's public key
	At    time.Time `json:"at"`    // within vouch.Skew of the node's clock
	Proof string    `json:"proof"` // base64 Ed25519 signature
}

// VouchReply is the cloud's statement for a device (package vouch), and the
// key that checks it.
type VouchReply struct {
	Statement string    `json:"statement"`
	Device    string    `json:"device"`    // vouch.DeviceID of the key
	CloudKey  string    `json:"cloud_key"` // the cloud's public key
	Expires   time.Time `json:"expires"`
}

// PeerRequest is the body of PUT /v1/peers/{device}: a peer's registration
// and each of its heartbeats.
type PeerRequest struct {
	// Statement is the device's statement from POST /v1/peers/vouch: its
	// user must be the caller, its device the path's {device}.
	Statement string   `json:"statement"`
	Address   string   `json:"address"` // host:port where other peers reach it
	Holds     []string `json:"holds"`   // ids of the veiled images it offers
}

// PeerReply answers a registration or heartbeat.
type PeerReply struct {
	User    string    `json:"user"`
	Device  string    `json:"device"`
	Address string    `json:"address"`
	Holds   []string  `json:"holds"` // what the directory lists it as holding
	Since   time.Time `json:"since"` // online since
	TTL     Duration  `json:"ttl"`   // send the next heartbeat well before this has passed
}

// OnlineReply is one peer in GET /v1/online.
type OnlineReply struct {
	User    string    `json:"user"`
	Device  string    `json:"device"`
	Address string    `json:"address"`
	Key     string    `json:"key"`
	Since   time.Time `json:"since"`
}

// Holder is an online peer that offers a copy of an image.
type Holder struct {
	User    string `json:"user"`
	Device  string `json:"device"`
	Address string `json:"address"`
	Key     string `json:"key"`
}

// DirectoryEntry is one image the caller may see, in GET /v1/directory.
type DirectoryEntry struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Digest  string    `json:"digest"` // of the veiled PNG; "" for an image put before digests were kept
	Created time.Time `json:"created"`
	// Viewers is each viewer's views left, for the owner only.
	Viewers map[string]int `json:"viewers,omitempty"`
	// ViewsLeft is the caller's views left online, for a viewer.
	ViewsLeft int `json:"views_left"`
	// Offline is each viewer's views spent offline, as their devices
	// reported, for the owner only.
	Offline map[string]int `json:"offline,omitempty"`
	// Leases are the image's offline leases: every one for the owner (so
	// that the bound on what an offline viewer can still spend shows), the
	// caller's own for a viewer (so that its device learns of a
	// revocation).
	Leases  []LeaseInfo `json:"leases,omitempty"`
	Holders []Holder    `json:"holders"`
	// Ticket lets the caller fetch a copy from a peer that is not the
	// owner (vouch.Ticket); empty when the image has no digest.
	Ticket string `json:"ticket,omitempty"`
}

// DirectoryReply is the body of GET /v1/directory.
type DirectoryReply struct {
	Images []DirectoryEntry `json:"images"`
	Node   string           `json:"node"`  // the node that answered
	Index  uint64           `json:"index"` // its registry's last applied index
}

// Duration is a time.Duration that reads and writes JSON as a string such
// as "30s".
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
