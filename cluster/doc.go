// Package cluster is a running Veil node: gossip membership, the election,
// the HTTP API, the dispatch of image work, the replicated registry and the
// failure simulation.
//
// Start a node with Start(cfg) and stop it with Leave (graceful) or Close (a
// crash, to the others). The files, one concern each:
//
//	config.go      Config, the named timing profiles (lan, fast) and Validate
//	meta.go        the metadata a node gossips about itself (at most 495 bytes)
//	gate.go        a wrapper of memberlist's transport that can silence the node or cut peers
//	membership.go  the node's own status table (alive, suspect, failed, left) and memberlist's delegates
//	node.go        Start, the background loops, Leave and Close
//	api.go         the routes, the middleware, status, members, coordinator, admin
//	errors.go      every error a client can act on, and its HTTP status and code, in one place
//	dispatch.go    forwarding to the coordinator and handing work to the least-loaded node
//	users.go       registration, login, tokens
//	images.go      puts, views, shares and the lists
//	registrylog.go the one interface through which the node reaches the replicated registry
//	replicate.go   the registry's replication in Bully mode: promises, sync, append, commit
//	raftmode.go    Raft mode: the registry as Raft's FSM, bootstrap, membership from gossip
//	failsim.go     the assignment's failure simulation
//	metrics.go     Prometheus metrics on a registry of the node's own
//	work.go        the worker pool and the load it reports
//	keys.go        the keys and tokens derived from the master key
//	testing.go     TestCluster, an in-process cluster for tests of this and other packages
//
// A request's path: any node takes it; a node that does not coordinate
// forwards it once to the coordinator; the coordinator picks a worker (the
// healthy node with the fewest jobs in flight plus the lowest gossiped load,
// itself included), commits the change to the registry through a majority,
// and only then answers. See the README for the routes and their errors.
package cluster
