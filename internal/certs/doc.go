// Package certs makes and loads the certificates of a Veil cluster, and the
// TLS configurations built from them.
//
// A cluster is its own certificate authority (Authority): one key and a
// self-signed certificate that every node and client trusts, and nothing
// else. The authority issues two kinds of certificate (Request.Kind):
//
//   - a node certificate, for both ends of TLS: the node serves the API with
//     it and presents it when it calls another node. Its names (SANs) are the
//     node's name, localhost, the loopback addresses and whatever names and
//     addresses users reach the node at.
//   - a client certificate, for an operator's tools or a user's peer: client
//     authentication only, so that it can never serve as a node.
//
// What makes a node, on the wire, is a certificate of the cluster's
// authority that is a node certificate (IsNode): node-to-node calls check
// that, and not the host name, since a node is dialled at whatever address
// gossip advertises for it. Users' clients check the host name as usual.
//
// Keys are ECDSA P-256, which every TLS client (curl, browsers, Go) takes.
// Everything here is crypto/x509 and crypto/tls; no outside tool is needed.
package certs
