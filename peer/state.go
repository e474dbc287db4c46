package peer

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"veil/cluster/api"
)

// stateFile holds what the peer last heard from the cloud, so that it can
// serve and fetch with the cloud away, even across a restart.
const stateFile = "cloud.json"

// stateVersion is the version of stateFile; decodeState reads every
// version up to it.
const stateVersion = 1

// cloudState is what the peer knows from the cloud.
type cloudState struct {
	Format    int                `json:"format"`
	CloudKey  string             `json:"cloud_key"` // base64 Ed25519 public key
	Statement string             `json:"statement"` // this device's, from the cloud
	Expires   time.Time          `json:"statement_expires"`
	Directory api.DirectoryReply `json:"directory"`
	Online    []api.OnlineReply  `json:"online"`
	Heard     time.Time          `json:"heard"` // last answer from the cloud
	Requests  []Request          `json:"requests"`
	Queue     []QueuedChange     `json:"queue,omitempty"` // the owner's changes waiting for the cloud
}

// Request is a non-viewer's request for an image, waiting for the owner.
type Request struct {
	User  string    `json:"user"`
	Image string    `json:"image"`
	At    time.Time `json:"at"`
}

func (s cloudState) cloudKey() ed25519.PublicKey {
	b, err := base64.StdEncoding.DecodeString(s.CloudKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(b)
}

// decodeState reads the state file.
func decodeState(b []byte) (cloudState, error) {
	var s cloudState
	if err := json.Unmarshal(b, &s); err != nil {
		return cloudState{}, fmt.Errorf("peer: %s: %w", stateFile, err)
	}
	if s.Format < 1 || s.Format > stateVersion {
		return cloudState{}, fmt.Errorf("peer: %s: format %d; this build reads 1 to %d", stateFile, s.Format, stateVersion)
	}
	if s.CloudKey != "" && s.cloudKey() == nil {
		return cloudState{}, fmt.Errorf("peer: %s: cloud key is not a base64 Ed25519 key", stateFile)
	}
	return s, nil
}

func loadState(dir string) (cloudState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errIsNotExist(err) {
		return cloudState{Format: stateVersion}, nil
	}
	if err != nil {
		return cloudState{}, err
	}
	return decodeState(b)
}

func saveState(dir string, s cloudState) error {
	s.Format = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b, 0o600)
}
