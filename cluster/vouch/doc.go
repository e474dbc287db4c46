// Package vouch holds the statements the cloud signs for peers, so that two
// peers can trust each other, and a peer can trust a grant, with no cloud in
// reach.
//
// The cloud holds one Ed25519 key, derived from the master key; every node
// derives the same one, so any node can sign and every peer checks with one
// public key, learnt at login and kept. Two statements exist:
//
//   - Device: "user U's device D holds key K until T". Given at login, shown
//     by a peer to every other peer it talks to. D is derived from K
//     (DeviceID), so a device id cannot be claimed by another key.
//   - Ticket: "user U may fetch image I, whose veiled bytes hash to H, until
//     T". Given with the directory, shown to a peer that holds a copy of I
//     it does not own, so that a relay serves only those the owner listed.
//
// A statement is a short binary record and its signature, sent as
// unpadded base64url (a header's worth). It carries a format version;
// Verify reads every version up to Version.
package vouch
