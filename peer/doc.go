// Package peer is a user's own process in Veil's P2P half: the middleware
// that `veil peer` runs on a user's machine.
//
// A peer logs in to the cloud as its user, has the cloud vouch for its
// device key (package cluster/vouch), registers in the cloud's discovery
// service and keeps its presence alive with heartbeats. It keeps the user's
// own images (original and veiled copy) and the veiled copies it fetched in
// a store on disk (store.go). Other peers reach it on its listen address
// over TLS in which each side shows the key the cloud vouched for
// (wire.go); a transfer needs only the two peers, so it works while the
// whole cloud is down. The owner's peer serves its images to the viewers
// the cloud lists; any other holder relays a copy to a user who shows the
// cloud's ticket for it. A veiled PNG is ciphertext: a relay learns nothing
// from it, and opening it is the cloud's job.
//
// The user drives the peer through a control API on a loopback address
// (local.go): the veil command's --peer flag, and later a web page. It
// talks to the cloud only through cluster/client.
package peer
