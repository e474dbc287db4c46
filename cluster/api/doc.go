// Package api holds the bodies of the cloud's HTTP API, as the cloud's
// nodes write them and its clients read them (package cluster/client, the
// users' peers): plain structs with their JSON names, and the viewer list
// syntax. It imports nothing of the project, so that a client needs nothing
// of a running node to speak to one; package cluster names the same types
// by aliases. The routes and error codes are in docs/api.md.
package api
