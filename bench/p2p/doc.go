// Package p2p runs users' peers (veil peer) as processes against a spawned
// cluster: the narrated demo of Phase 2's use cases, and the P2P load of
// `veil bench --peers`, with its checks (quotas exact, the directory the
// same on every node) and its report.
package p2p
