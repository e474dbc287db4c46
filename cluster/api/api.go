package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ImageReply describes one image in the owner's list and in PATCH replies.
type ImageReply struct {
	ID      string         `json:"id"`
	Owner   string         `json:"owner"`
	Viewers map[string]int `json:"viewers"` // views left per viewer
	Created time.Time      `json:"created"`
	Version uint64         `json:"version"`
}

// SharedReply is one image shared with the caller.
type SharedReply struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	ViewsLeft int       `json:"views_left"`
	Created   time.Time `json:"created"`
}

// LoginReply is the body of POST /v1/login.
type LoginReply struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// MemberReply is one element of the body of GET /v1/members.
type MemberReply struct {
	Name    string  `json:"name"`
	Address string  `json:"address"`
	API     string  `json:"api"`
	Status  string  `json:"status"`
	Role    string  `json:"role"`
	Load    float64 `json:"load"`
	Epoch   uint64  `json:"epoch"`
	Mode    string  `json:"mode"`
	State   string  `json:"state"`
	// Raft is the member's Raft state as it last gossiped it (Raft mode).
	Raft *RaftMember `json:"raft,omitempty"`
}

// RaftMember is a member's Raft state, in the manner of `consul operator
// raft list-peers`.
type RaftMember struct {
	Address       string `json:"address"`
	State         string `json:"state"` // leader, follower or candidate
	Voter         bool   `json:"voter"`
	CommitIndex   uint64 `json:"commit_index"`
	LastContactMs uint32 `json:"last_contact_ms"` // since it heard the leader; 0 on the leader
}

// CoordinatorReply is the body of GET /v1/coordinator.
type CoordinatorReply struct {
	Coordinator string `json:"coordinator"`
	API         string `json:"api"`
	Epoch       uint64 `json:"epoch"`
	EpochNode   string `json:"epoch_node"`
	Node        string `json:"node"` // the node that answered
}

// StatusReply is the body of GET /v1/status.
type StatusReply struct {
	Name        string  `json:"name"`
	Mode        string  `json:"mode"`
	State       string  `json:"state"`
	Role        string  `json:"role"`
	Coordinator string  `json:"coordinator"`
	Epoch       uint64  `json:"epoch"`
	EpochNode   string  `json:"epoch_node"`
	Load        float64 `json:"load"`
	Gossip      string  `json:"gossip"`
	API         string  `json:"api"`
	Profile     string  `json:"profile"`
	Members     int     `json:"members"`
	JobsDone    uint64  `json:"jobs_done"`
	Elections   uint64  `json:"elections"`
	Failures    bool    `json:"failure_simulation"`
	// Build is the source revision the node was built from (see veil
	// version), so that a cluster of mixed builds shows.
	Build string `json:"build"`
	// Raft is this node's Raft state (Raft mode).
	Raft *RaftStatus `json:"raft,omitempty"`
	// Limits are the sizes the node takes (absent from older nodes).
	Limits *Limits `json:"limits,omitempty"`
	// Registry is where this node's copy of the registry stands (absent
	// from older nodes), so that an operator sees compaction happen.
	Registry *RegistryStatus `json:"registry,omitempty"`
}

// RegistryStatus is where a node's copy of the registry stands: the last
// committed index, the index its snapshot holds, the entries its log keeps
// (after compaction, at most the threshold and the trailing entries), and
// what the registry holds.
type RegistryStatus struct {
	CommitIndex   uint64 `json:"commit_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	LogEntries    uint64 `json:"log_entries"`
	Images        int    `json:"images"`
	Users         int    `json:"users"`
	// Refusing lists, on a Bully coordinator, the followers that refuse
	// its appends for a reason of their own (a damaged store, a malformed
	// entry), and why: such a follower falls behind and does not count
	// towards a majority.
	Refusing []Refusal `json:"refusing,omitempty"`
}

// Refusal is a follower refusing the coordinator's appends since a time,
// with the code and message of its last refusal.
type Refusal struct {
	Peer    string    `json:"peer"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// Limits are the sizes of what a node takes, so that a client can refuse
// at once what would be refused after an upload.
type Limits struct {
	// MaxBodyBytes bounds a put's body: its secret and its cover.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// MaxSecretBytes is the largest secret a put takes at each stealth
	// level, without a cover ("compact", "balanced", "stealthy").
	MaxSecretBytes map[string]int64 `json:"max_secret_bytes"`
	// MaxImageBytes bounds a view's or a lease's body, a veiled image: at
	// least the largest the node writes.
	MaxImageBytes int64 `json:"max_image_bytes"`
	// DefaultStealth is the level of a put that names none.
	DefaultStealth string `json:"default_stealth"`
}

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

// LeaseReply is the body of a lease taken.
type LeaseReply struct {
	Lease     string    `json:"lease"` // the cloud's statement (vouch.Lease)
	ID        string    `json:"id"`
	Image     string    `json:"image"`
	Views     int       `json:"views"`      // leased
	ViewsLeft int       `json:"views_left"` // still online
	Expires   time.Time `json:"expires"`
	// Sealed is the original image, encrypted to the device's key (age,
	// with the device's Ed25519 key as an ssh-ed25519 recipient), base64.
	Sealed string `json:"sealed"`
}

// ReturnRequest is the body of POST /v1/leases/{id}/return.
type ReturnRequest struct {
	Statement string `json:"statement"` // the device's statement
	Spent     int    `json:"spent"`
	Proof     string `json:"proof"` // base64 Ed25519 signature of vouch.ReportProof(id, spent) by the device
}

// ReturnReply answers a report.
type ReturnReply struct {
	ID        string `json:"id"`
	Image     string `json:"image"`
	Returned  int    `json:"returned"`   // views back in the online count
	ViewsLeft int    `json:"views_left"` // the viewer's online views now
}

// LeaseInfo is a lease as the directory lists it: all of an image's for
// its owner, the caller's own for a viewer.
type LeaseInfo struct {
	ID      string    `json:"id"`
	Viewer  string    `json:"viewer"`
	Device  string    `json:"device"`
	Views   int       `json:"views"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
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

// ParseViewers reads a viewer list: "alice,bob" gives each the default
// number of views; "alice=3,bob=1" sets them one by one. Every viewer gets
// at least one view. An empty list is allowed (only the owner may see the
// image).
func ParseViewers(list string, defaultViews int) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(list) == "" {
		return out, nil
	}
	for _, item := range strings.Split(list, ",") {
		name, count, hasCount := strings.Cut(strings.TrimSpace(item), "=")
		views := defaultViews
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil {
				return nil, fmt.Errorf("viewer %q: views %q is not a number", name, count)
			}
			views = n
		}
		if name == "" {
			return nil, fmt.Errorf("viewer list %q has an empty name", list)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("viewer %q is listed twice", name)
		}
		if views < 1 {
			return nil, fmt.Errorf("viewer %q would get %d views; give at least 1", name, views)
		}
		out[name] = views
	}
	return out, nil
}

// RaftStatus is what a server says of its Raft state, in the manner of
// `consul operator raft list-peers`.
type RaftStatus struct {
	State        string    `json:"state"` // Leader, Follower, Candidate, Shutdown
	Term         uint64    `json:"term"`
	CommitIndex  uint64    `json:"commit_index"`
	AppliedIndex uint64    `json:"applied_index"`
	LastIndex    uint64    `json:"last_index"`
	LastContact  time.Time `json:"last_contact"` // with the leader; zero on the leader or when never
	Voter        bool      `json:"voter"`        // in the latest configuration as a voter
}

// HandOffReply is the body of POST /v1/admin/handoff: the coordinator From
// handed its role to To, which announced itself at Epoch (empty when it
// had not yet, with status 202), TookMS after the order.
type HandOffReply struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Epoch  string  `json:"epoch"`
	TookMS float64 `json:"took_ms"`
	Reason string  `json:"reason"` // admin, load or leave
}
