package cluster

import "veil/cluster/api"

// The bodies of the discovery routes (peers.go), defined in package api so
// that a client needs nothing of a node to speak them.
type (
	VouchRequest   = api.VouchRequest
	VouchReply     = api.VouchReply
	PeerRequest    = api.PeerRequest
	PeerReply      = api.PeerReply
	OnlineReply    = api.OnlineReply
	Holder         = api.Holder
	DirectoryEntry = api.DirectoryEntry
	DirectoryReply = api.DirectoryReply
	Duration       = api.Duration
)
