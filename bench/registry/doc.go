// Package registry is the registry bench, `veil bench --registry N[,N...]`:
// what the registry costs as it grows, measured on real clusters from the
// outside.
//
// For each size N and each mode, Run (run.go) spawns a cluster (package
// local), fills its registry with N images, a tenth as many users and
// three viewers an image through POST /v1/admin/fill, which proposes
// synthetic registrations and puts on the coordinator through the log as
// every write goes, batched (fill.go); then it measures over the ordinary
// routes: the coordinator's heap after a garbage collection, a user's
// directory and image list (probe.go), writes one at a time while no node
// takes a snapshot and while one does, the snapshot's time and a
// restarted follower's restore, as the nodes' own logs tell them
// (nodelog.go), the data directory after the snapshot, and the restart of
// a follower to serving and caught up. The Report (report.go) writes
// itself as report.json, with each run under "registry", report.md, and a
// plot of each cost against N (plots.go).
//
// Durations are measured here and reported; nothing here decides whether
// a figure is good enough.
package registry
