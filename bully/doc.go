// Package bully is the load-based Bully election as a deterministic state
// machine.
//
// A Node holds no goroutine, clock, socket or source of randomness. The host
// feeds it events and drains what it wants done:
//
//	n.Tick()              // logical time: the host decides how long a tick is
//	n.Step(m)             // a message received from another node
//	n.SetMembers(alive)   // the live members as the host's membership sees them
//	n.SetLoad(load)       // the local load, whenever it changes
//	n.Heard(from, epoch)  // other traffic from a node: from the coordinator, proof of life
//	n.Lost(id)            // proof that a node is gone (its connection reset): of the coordinator, campaign now
//	n.Rejoin()            // back from a simulated failure
//	n.Transfer(id)        // hand the coordinator's role to id (see Hand-off)
//	rd := n.Ready()       // messages to send, notices to publish, a hand-off to prepare
//
// The host's side of the contract:
//
//   - Call everything from one goroutine; a Node is not safe for concurrent
//     use.
//   - Tick at a steady rate. The tick must be longer than a one-way message
//     delay, so that an ELECTION and its ANSWER fit in ElectionTimeout.
//   - Step every message received (decode it with UnmarshalBinary first).
//     ErrStaleEpoch is routine; the other errors mean bad input or routing.
//   - SetMembers once at start and on every membership change; SetLoad
//     whenever the load changes.
//   - After each call (or each turn of its loop), drain Ready: send each
//     message (To == "" means every live member but this node), then publish
//     the notices. Loss, delay and duplication are tolerated. When Ready
//     names a Transfer, prepare the hand-off and call Transfer, or let it
//     pass.
//   - While the node simulates a failure, freeze it (no ticks, no messages);
//     when the failure ends, call Rejoin.
//
// This is the shape of etcd's raft, and for the same reason: a simulated
// network can run tens of thousands of elections with loss, delay,
// duplication, crashes and partitions in seconds, and any failure replays
// exactly from its seed.
//
// # Rank
//
// A node's rank is the pair (load, name), compared in that order: the lower
// load wins and, between equal loads, the lexically smaller name (byte-wise,
// as strings compare in Go) wins. Loads are numbers the host reports, in the
// host's own unit. An election never compares live loads: a node that takes
// part in an election freezes its load (its snapshot) for the whole of that
// election and carries it in every ELECTION and ANSWER it sends, so that the
// order between two candidates cannot change while they compare, and loads
// moving during an election cannot make it loop.
//
// # Messages
//
// ELECTION (broadcast) opens or joins an election and carries the sender's
// snapshot. A node that outranks the sender replies ANSWER (unicast) and runs
// its own election unless it already knows of a better candidate. A candidate,
// or a node with no coordinator, that sees an ELECTION from a node that
// outranks it defers: it waits up to CoordinatorTimeout ticks for that node's
// COORDINATOR, then campaigns again. A candidate that hears no ANSWER for
// ElectionTimeout ticks wins and broadcasts COORDINATOR. A node that the
// sender outranks, and that does not refuse it (see Stickiness), replies
// YIELD; a candidate that holds a YIELD from every member of its last
// membership (but itself, and a coordinator the host proved gone with Lost)
// wins at once instead of waiting out ElectionTimeout: nobody is left who
// could answer it. An ELECTION from a node the candidate outranks counts as
// that node's YIELD: its snapshot is frozen below the candidate's for the
// round, and it has lost the coordinator. The coordinator then repeats COORDINATOR every
// HeartbeatInterval ticks as a heartbeat carrying its epoch and its current
// load. Every message carries the sender's epoch.
//
// # Stickiness
//
// A live coordinator is not replaced because one node stopped hearing it
// (its heartbeats lost or late under load, an asymmetric link, a bridge
// node), as Raft's pre-vote and leader stickiness keep a leader:
//
//   - A coordinator that receives an ELECTION at its own epoch answers the
//     sender with a COORDINATOR addressed to it and stays, unless the
//     sender's snapshot beats its load by more than LoadGap (a load-driven
//     re-election, with ReelectInterval > 0): then it steps down and takes
//     part like any node.
//   - A follower that names a coordinator (so heard it within
//     CoordinatorTimeout ticks) answers such an ELECTION with REFUSE and
//     does not campaign. A candidate that is refused stands down and
//     campaigns again ElectionTimeout ticks later; meanwhile it follows the
//     coordinator's heartbeats if they reach it. If the coordinator is
//     really gone, the others lose it within their own timeout and stop
//     refusing. A REFUSE from a node whose ELECTION at that epoch already
//     reached the candidate is stale (it was sent first, and overtaken):
//     it is ignored in this round and later ones, and a refused node that
//     the refuser's own ELECTION reaches campaigns again at once. So when
//     every node learns of a crash within a tick (Lost), they agree within
//     that tick whatever the order of the messages.
//   - A candidate that receives a COORDINATOR addressed to it at the epoch
//     it campaigns against follows that coordinator: it is alive and
//     staying. A broadcast heartbeat of that epoch, which may predate the
//     ELECTION, does not end the election; only a higher epoch does.
//
// The cost: a node that notices a crash alone cannot move the others until
// they notice too (membership or their own timeout); elections are then
// started by most nodes at about the same time, as after a crash they are.
//
// ELECTION goes to every live member rather than only to "higher" nodes, as in
// the textbook, because here no node can know who outranks it without asking:
// loads move. The wire encoding (MarshalBinary) starts with a version byte;
// the decoder rejects anything malformed with an error wrapping ErrMalformed.
//
// # Epochs
//
// An Epoch is the pair (Term, Node) compared lexicographically. A node that
// wins takes the term one above the highest it knows and its own name, so two
// different coordinators never hold the same epoch, not even on the two sides
// of a partition that both elected at the same term; when the partition heals
// the higher epoch survives. A node's epoch never goes down. It ignores a
// COORDINATOR or ELECTION at a lower epoch (Step returns ErrStaleEpoch); a
// coordinator that sees any message at a higher epoch steps down at once. A
// coordinator that receives a stale message answers its sender with a
// COORDINATOR so that the sender catches up without waiting for a heartbeat.
//
// # Liveness of the coordinator
//
// Three signals, any of which is enough to start an election: the host has
// proof that the coordinator is gone (Lost: a connection to it reset or
// refused by its machine, which a crash does at once), the host's
// membership no longer lists the coordinator (SetMembers), or nothing from
// the coordinator arrived for CoordinatorTimeout ticks: no COORDINATOR
// heartbeat, and no other traffic the host reports with Heard (replication,
// forwarded work), which counts as a heartbeat as Raft's AppendEntries do. The machine does not rely on
// membership alone: gossip may keep a node listed that this node cannot reach
// (an asymmetric partition, a coordinator that lost its side), and gossip
// cannot tell that a coordinator stepped down. Nor does it believe gossip
// against its own ears: a follower that heard its coordinator within two
// heartbeats ignores a membership that drops it (in a bridge partition the
// other half's suspicion makes gossip call dead a coordinator the bridge node
// hears). Gossip reports a real crash later than that in every profile, and
// Lost sooner. Heartbeats also carry the coordinator's load, which is what
// the re-election trigger compares.
//
// # Triggers
//
//   - Start-up and Rejoin: the node listens for CoordinatorTimeout ticks and
//     adopts the coordinator it hears; it campaigns only if it hears none. A
//     coordinator that comes back steps down first: it cannot know whether it
//     was replaced while it was away.
//   - The coordinator is gone from membership, or silent for
//     CoordinatorTimeout ticks.
//   - Periodic re-election: a follower whose load is below the coordinator's
//     last heartbeat load by more than LoadGap offers to take the role (see
//     Hand-off), but never sooner than ReelectInterval ticks after it adopted
//     the current coordinator or last tried, so the role does not flap. The
//     coordinator is alive, so this is no election. Elections started for any
//     other reason pick the best rank among the nodes that answer, with no
//     gap.
//   - Campaign: the host (or a test) asks for an election now.
//
// # Hand-off
//
// A load-driven move changes the coordinator while it is alive and serving,
// so it is made as a transfer, as Raft's leadership transfer is, and not by
// letting the role lapse: a client must not see it. A follower lighter than
// the coordinator by more than LoadGap sends it OFFER. The first offer opens
// a window of ElectionTimeout ticks and the coordinator calls for offers
// (an OFFER to everyone, carrying its load); every follower lighter by the
// gap answers with its own. When the window closes, Ready.Transfer names the
// best rank among the offers still lighter by the gap. The host then stops
// taking writes, brings that node up to date and calls Transfer (or lets
// the chance pass). Transfer sends HANDOFF and leaves the node waiting, with
// no coordinator, for the successor's announcement; HANDOFF is repeated
// every HeartbeatInterval ticks in case it was lost, and if no announcement
// comes within CoordinatorTimeout the node campaigns, as after a crash. The
// successor wins at once at the next term, as if it had won an election,
// and announces. An operator's move uses the same Transfer.
//
// A node running an older build takes a load-driven ELECTION from a
// follower as before: a coordinator beaten by the gap steps down and takes
// part; newer nodes still do that for an older follower's ELECTION.
//
// # Notices
//
// A Notice is emitted whenever the pair (coordinator, epoch) that the node
// believes in changes: a new coordinator adopted, this node became
// coordinator (Self), this node stopped being coordinator (SteppedDown), or
// the coordinator was lost and none is known (Coordinator == ""). Heartbeats
// that change nothing emit nothing.
//
// # Agreement bound
//
// Let d be the largest one-way delay of a message in ticks (the host keeps a
// tick longer than a delay, so d is 1 in practice) and write H, E, C and R for
// HeartbeatInterval, ElectionTimeout, CoordinatorTimeout and ReelectInterval.
// Once faults stop (no loss, every live node ticking, the network whole and
// membership accurate), every live node names the same live coordinator at
// the same epoch within
//
//	B = 2·(C + E + 3d) + (H + d) + [R + (H + d) + E + 3d]
//
// ticks, the bracket counting only when re-election is on (R > 0). The parts:
// up to two election rounds, each a detection or a wait (C) then an election
// (E) and its messages, to flush stale epochs and candidates that died; one
// heartbeat to spread the result; and one hand-off, when the coordinator
// the faults left behind is worse than the best live node by more than
// LoadGap, which waits R ticks, a fresh heartbeat load, the first OFFER,
// the window (E, which holds the call for offers and their answers), the
// HANDOFF and the announcement, with the host's preparation counted as
// nothing. With the defaults and d = 1 that is 147 ticks, or 14.7 s at
// 100 ms a tick; without re-election, 37 ticks. Config.AgreementBound computes B, and the simulation
// in this package's tests checks every live node against it after every
// fault-free stretch (the worst run so far used about 70% of it).
//
// # Partitions
//
// The Bully algorithm has no majority rule. If the network splits, each side
// elects its own coordinator, each at its own epoch, and both act as
// coordinator until the partition heals and the lower epoch steps down. This
// package does not prevent it; the replication layer above does, by requiring
// a majority to acknowledge anything.
package bully
