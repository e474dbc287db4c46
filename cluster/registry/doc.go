// Package registry is Veil's replicated state: users, images with the views
// each viewer has left, views leased to viewers' devices for offline use,
// peers, and the idempotency table; the commands that change it; the durable log a node keeps of them; and the password and token
// primitives of its users.
//
// The package has three layers, each usable without the next:
//
//   - Commands (RegisterUser, PutImage, View, Share, ExpireKeys, Barrier,
//     PeerUp, PeerDown, TakeLease, ReturnLease) with a canonical binary
//     encoding (Encode, Decode). They are the only way the
//     registry changes, and they carry everything their effect depends on:
//     the creation time of an image is in its PutImage, the point at which
//     idempotency keys expire is a log index in an ExpireKeys.
//   - State, the registry as a deterministic state machine: Apply(index,
//     command) returns an Outcome, and the same commands at the same indexes
//     give byte-identical Snapshots on every node. It holds no clock, no
//     randomness, no I/O and no lock. In Raft mode it is the FSM: its
//     Apply, Snapshot and Restore map onto raft.FSM's.
//   - Store, a node's durable copy in Bully mode: a log of entries tagged
//     with the epoch of the coordinator that made them, the highest epoch
//     promised, the commit index, and the State built from the committed
//     entries, in one bbolt file. It follows Raft's log rules with Bully
//     epochs in place of terms; the replication protocol (who sends what to
//     whom, majorities, catching up) drives it from outside.
//
// Beside them, auth.go hashes passwords with argon2id and issues and checks
// signed, expiring bearer tokens, so that a node authenticates a request
// with one HMAC.
//
// # The request path
//
// A coordinator that receives a view encodes View{ID, Viewer, IdemKey},
// appends it with Store.Propose, sends the entry to the other nodes, which
// take it with Store.AppendEntries (each transaction fsynced before it
// returns), and once a majority of the cluster holds it, calls
// Store.Commit: the Outcome says whether the view was allowed, and the
// worker reveals the image only if it was. Since every change goes through
// the log, concurrent requests are serialised by it; the State needs no
// lock of its own.
//
// # Errors
//
// Every refusal wraps one of the exported errors; errors.Is tells them
// apart, and Reason gives the machine-readable reason of a denied view.
package registry
