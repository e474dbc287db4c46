// Package election is what a Veil node sees of the choice of its
// coordinator: who coordinates, at which epoch, and when that changes.
//
// One interface, Elector, has two implementations. The Bully runner drives the
// pure state machine of package bully with real time, carries its messages
// between nodes over a Transport the node provides (gossip, in practice), and
// feeds it membership and the local load; it owns no socket: the host hands
// in a Transport and calls Deliver for every message that arrives for the
// election. The Raft elector (raft.go) lets hashicorp/raft choose, over a
// TCP transport of its own (raftnet.go) that the host can silence or cut,
// and reports its leader and term the same way; it also carries the host's
// replicated state machine, with every wait on Raft bounded by a context.
package election
