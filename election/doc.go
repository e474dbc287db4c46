// Package election is what a Veil node sees of the choice of its
// coordinator: who coordinates, at which epoch, and when that changes.
//
// One interface, Elector, has two implementations. The Bully runner drives the
// pure state machine of package bully with real time, carries its messages
// between nodes over a Transport the node provides (gossip, in practice), and
// feeds it membership and the local load. The Raft elector (a later mode)
// lets hashicorp/raft choose, and reports its leader and term the same way.
//
// The package owns no sockets of its own: the host hands in a Transport and
// calls Deliver for every message that arrives for the election.
package election
