// Package netns gives each node of a test cluster a network of its own, so
// that faults are real network faults: a node runs in its own Linux network
// namespace, with its own address, joined to the others by a veth pair and
// a bridge; iptables rules inside a node's namespace cut it off from some
// peers, drop a share of its packets at random, or make its links flap.
//
// A Net is the network: a hub namespace that holds the bridge and the
// address clients speak from, and one namespace per node. Nothing is added
// to the namespace the caller runs in; the caller reaches the nodes through
// sockets opened in the hub (Net.DialContext, Net.HTTPClient). Every name a
// Net makes starts with a prefix unique to the process and the Net
// ("veilf<pid>x<k>-"), so that Close removes exactly what it made, and
// RemoveStale removes what a killed run left behind.
//
// A Cluster runs `veil node` processes, one per namespace, and can kill,
// pause, continue and restart them; it owns them and reaps every one on
// Close.
//
// Making namespaces needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the
// ip and iptables commands; Available says whether this machine has them.
package netns
